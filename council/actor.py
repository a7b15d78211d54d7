"""The ``council`` actor: a thin async shell over ``council.core.CouncilCore``.

Contract:
- ``tick(ts_ns)``: market time moved (the feed calls it). At each period
  boundary the council reads every agent's P&L and budget from the gateway,
  decides (reweighting through the Kelly allocator, votes), logs the decision
  with its inputs to the gateway's WAL in the same commit as the new budgets,
  and pauses or resumes agents. Returns the decision's payload, or None.
- ``history()``: every decision so far (weights, budgets, votes, reasons).

Idempotency: a repeated ``tick`` for a time already decided decides nothing.
When it dies: Ray restarts it; before its first decision it reads its logged
decisions back from the gateway (``council_log``) and rebuilds its state from
them (``CouncilCore.from_log``: samples, peaks, votes, weights, schedule), so it
decides as the council that died would have. A decision whose log write failed
is forgotten the same way: the next tick rebuilds from what the WAL holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from agents.client import AgentClient
from core.config import validate_config
from council.core import CouncilConfig, CouncilCore, VoteKind
from gateway.client import GatewayClient

log = logging.getLogger(__name__)


class CouncilActor:
    """See the module doc."""

    def __init__(self, config: Mapping[str, Any], agents: tuple[str, ...]) -> None:
        self._config = validate_config(config, CouncilConfig, "[council]")
        self._agent_ids = agents
        self._core: CouncilCore | None = None  # rebuilt from the gateway before the first decision
        self._gateway = GatewayClient(deadline_s=30)
        self._agents: dict[str, AgentClient] = {}  # looked up when a vote is delivered

    async def _rebuilt(self) -> CouncilCore:
        if self._core is None:
            log_ = await self._gateway.acouncil_log()
            self._core = CouncilCore.from_log(self._config, self._agent_ids, log_)
            if log_:
                log.warning("council: rebuilt from %d logged decisions", len(log_))
        return self._core

    async def tick(self, ts_ns: int) -> dict[str, Any] | None:
        core = await self._rebuilt()
        if core.next_sample_ns is not None and ts_ns < core.next_sample_ns:
            return None  # between boundaries: no need to read the gateway
        snapshot = await self._gateway.asnapshot()
        pnls: dict[str, Decimal] = {}
        budgets: dict[str, Decimal] = {}
        for agent in core.agents:
            view = snapshot.agents.get(agent)
            if view is not None:
                pnls[agent] = view.pnl
                budgets[agent] = view.budget
        decision = core.on_time(ts_ns, pnls, budgets)
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
                client = self._agents.get(vote.agent_id) or AgentClient(vote.agent_id)
                self._agents[vote.agent_id] = client
                if vote.kind is VoteKind.PAUSE:
                    await client.apause(vote.reason)
                else:
                    await client.aresume()
            except Exception:  # the vote is logged; the agent applies it when it answers again
                log.exception("council: %s of %s not delivered", vote.kind, vote.agent_id)
        return payload

    async def history(self) -> list[dict[str, Any]]:
        return [d.log_payload() for d in (await self._rebuilt()).history]


class CouncilClient:
    """The facade the feed uses to move the council's time (the one place its ``.remote()`` is called)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def tick(self, ts_ns: int) -> dict[str, Any] | None:
        import ray

        result: dict[str, Any] | None = ray.get(self._handle.tick.remote(ts_ns))
        return result

    def history(self) -> list[dict[str, Any]]:
        import ray

        result: list[dict[str, Any]] = ray.get(self._handle.history.remote())
        return result
