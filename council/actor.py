"""The ``council`` actor: a thin async shell over ``council.core.CouncilCore``.

Contract:
- ``tick(ts_ns, quoted_ns)``: market time moved (the feed calls it, with the
  time of the last order book it carried: a period without one is the end of
  the data, and nothing is decided on it). At each period boundary the council
  reads every agent's P&L and budget from the gateway,
  decides (reweighting through the Kelly allocator, votes), logs the decision
  with its inputs to the gateway's WAL in the same commit as the new budgets,
  and pauses or resumes agents. Returns the decision's payload, or None.
- ``history()``: every decision so far (weights, budgets, votes, reasons).
- Variants (when configured): at each boundary it reads each shadow's score
  (``agent:<incumbent>--<name>``), and after a promotion it gives the incumbent
  the variant's settings and the shadow the incumbent's (``reconfigure``; the
  same settings again change nothing, so it re-asserts them after its restart).

Idempotency: a repeated ``tick`` for a time already decided decides nothing.
Pauses are re-asserted at every decision (an agent actor restarted by Ray comes
back running; pausing it again is harmless).

When it dies: Ray restarts it; before its first decision it reads its logged
decisions back from the gateway (``council_log``) and rebuilds its state from
them (``CouncilCore.from_log``: samples, peaks, votes, weights, schedule), so it
decides as the council that died would have. A decision whose log write failed
is forgotten the same way: the next tick rebuilds from what the WAL holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from agents.client import AgentClient
from core.config import validate_config
from council.core import CouncilConfig, CouncilCore, VoteKind
from gateway.client import GatewayClient

log = logging.getLogger(__name__)


class CouncilActor:
    """See the module doc."""

    def __init__(
        self,
        config: Mapping[str, Any],
        agents: tuple[str, ...],
        agent_settings: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        gateway: Any = None,
        agent_client: Callable[[str], Any] = AgentClient,
    ) -> None:
        self._config = validate_config(config, CouncilConfig, "[council]")
        self._agent_ids = agents
        self._settings = {k: dict(v) for k, v in (agent_settings or {}).items()}
        self._settings_asserted = False
        self._core: CouncilCore | None = None  # rebuilt from the gateway before the first decision
        self._gateway = gateway if gateway is not None else GatewayClient(deadline_s=30)
        self._agent_client = agent_client  # injected by the tests
        self._agents: dict[str, Any] = {}  # looked up when a vote is delivered

    async def _rebuilt(self) -> CouncilCore:
        if self._core is None:
            log_ = await self._gateway.acouncil_log()
            self._core = CouncilCore.from_log(self._config, self._agent_ids, log_)
            if log_:
                log.warning("council: rebuilt from %d logged decisions", len(log_))
        return self._core

    async def tick(self, ts_ns: int, quoted_ns: int | None = None) -> dict[str, Any] | None:
        core = await self._rebuilt()
        if not core.due(ts_ns, quoted_ns):
            return None  # between boundaries, or the books have ended: no need to read the gateway
        snapshot = await self._gateway.asnapshot()
        pnls: dict[str, Decimal] = {}
        budgets: dict[str, Decimal] = {}
        for agent in core.agents:
            view = snapshot.agents.get(agent)
            if view is not None:
                pnls[agent] = view.pnl
                budgets[agent] = view.budget
        decision = core.on_time(ts_ns, pnls, budgets, await self._shadow_scores(), quoted_ns)
        if decision is None:
            return None
        payload = decision.log_payload()
        try:
            await self._gateway.alog_council(payload, decision.budgets)
        except Exception:
            self._core = None  # not logged: forget it; the next tick rebuilds from the WAL
            raise
        for vote in decision.votes:
            try:
                client = self._client(vote.agent_id)
                if vote.kind is VoteKind.PAUSE:
                    await client.apause(vote.reason)
                else:
                    await client.aresume()
            except Exception:  # the vote is logged; the agent applies it when it answers again
                log.exception("council: %s of %s not delivered", vote.kind, vote.agent_id)
        await self._reassert_pauses(core, {v.agent_id for v in decision.votes})
        if decision.promotions or not self._settings_asserted:
            await self._assert_settings(core)
        return payload

    def _client(self, agent_id: str) -> Any:
        client = self._agents.get(agent_id) or self._agent_client(agent_id)
        self._agents[agent_id] = client
        return client

    async def _reassert_pauses(self, core: CouncilCore, voted: set[str]) -> None:
        """Pause again every agent the council holds paused (a restarted agent comes back
        running; pausing a paused agent changes nothing), with the reason of its vote."""
        for agent in core.paused:
            if agent in voted:
                continue
            try:
                await self._client(agent).apause(core.pause_reason(agent))
            except Exception:  # the next decision tries again
                log.exception("council: pause of %s not re-asserted", agent)

    async def _shadow_scores(self) -> dict[str, Decimal]:
        scores: dict[str, Decimal] = {}
        for variant in self._config.variants:
            try:
                score = await self._client(variant.agent_id).ascore()
            except Exception:  # not sampled this period; the series carries its last value
                log.exception("council: no score from %s", variant.agent_id)
                continue
            if score is not None:
                scores[variant.agent_id] = score["pnl"]
        return scores

    async def _assert_settings(self, core: CouncilCore) -> None:
        """Give each incumbent and each shadow the settings the promotions so far say."""
        done = True
        for variant in self._config.variants:
            base = self._settings.get(variant.of)
            if base is None:
                continue
            incumbent, overrides = core.shadow_settings(variant.agent_id)
            wanted = {
                incumbent: {**base, **core.live_settings(incumbent), "agent_id": incumbent},
                variant.agent_id: {**base, **overrides, "agent_id": variant.agent_id},
            }
            for agent_id, settings in wanted.items():
                try:
                    await self._client(agent_id).areconfigure(settings)
                except Exception:
                    done = False
                    log.exception("council: settings of %s not delivered", agent_id)
        self._settings_asserted = done

    async def history(self) -> list[dict[str, Any]]:
        return [d.log_payload() for d in (await self._rebuilt()).history]


class CouncilClient:
    """The facade the feed uses to move the council's time (the one place its ``.remote()`` is called).

    A call Ray says "may or may not have executed" (the actor died or is being
    restarted) is sent again until ``deadline_s``: ``tick`` decides each period
    boundary once (a repeat returns None) and ``history`` only reads.
    """

    def __init__(self, handle: Any, *, deadline_s: float = 60.0) -> None:
        self._handle = handle
        self._deadline_s = deadline_s
        self.retries = 0

    def _call(self, method: str, *args: Any) -> Any:
        import ray
        from ray.exceptions import RayActorError

        deadline = time.monotonic() + self._deadline_s
        delay = 0.05
        while True:
            try:
                return ray.get(getattr(self._handle, method).remote(*args))
            except RayActorError:
                if time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def tick(self, ts_ns: int, quoted_ns: int | None = None) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._call("tick", ts_ns, quoted_ns)
        return result

    def history(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("history")
        return result
