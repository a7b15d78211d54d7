"""The ``agent:<id>`` actor: a thin async shell over ``agents.base.AgentCore``.

Contract:
- ``on_market_events(events)``: fold a batch of feed events in, decide, and send
  the resulting actions through the gateway client (the only way out: an agent
  never talks to an exchange). Returns how many actions it sent.
- ``refresh()``: pull the agent's orders, positions, budget and the breaker's
  state from the gateway (fills reach the agent this way).
- ``pause(reason, by)``, ``resume(by)``, ``stop()``: the lifecycle; stopping cancels
  the agent's open orders; pausing cancels those that could open a position and
  keeps its exits, and a paused agent goes on deciding with only the actions
  that reduce what it holds passing (``AgentCore``). Pausing again is harmless
  (the council re-asserts its pauses, e.g. after this actor restarted). ``by`` is
  ``"council"`` (the default) or ``"operator"``: each lifts only its own pause.
- ``flatten(control_id, reason)``: the operator's: pause, cancel every open
  order, close every position reduce-only through the gateway (intent ids from
  ``control_id``: a repeated call places nothing twice). Returns what it sent.
- Operator controls outlive a restart: they are logged in the gateway's WAL
  (``agents.controls``), and the constructor re-applies the last pause or
  resume logged for this agent.
- ``stats()``: per-agent metrics.
- Shadow mode (``shadow`` given: a strategy variant scored by the council): the
  gateway client is replaced by a private ``agents.sandbox.Sandbox`` (its own
  paper venues and gateway service, zero capital from the fund), which sees each
  market instant before the agent decides; ``score()`` returns its P&L.
- ``reconfigure(config)``: adopt other strategy settings (a promotion or a
  demotion by the council): open orders are canceled, the strategy starts fresh
  with the new settings and rebuilds from the account; the same settings again
  change nothing.

Idempotency: intent ids are deterministic per market event and leg, so a call
repeated by Ray, or a restarted agent deciding the same event again, gets the
orders the gateway already has instead of new ones.

When it dies: Ray restarts it; the constructor rebuilds the account view from
the gateway's record of the agent's orders and positions. An exception in the
strategy is logged and contained (no action for that decision).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.base import AgentCore, AgentStatus, Key, split_by_time
from agents.controls import operator_hold
from agents.registry import build_strategy
from agents.sandbox import Sandbox
from core.config import PaperConfig
from core.errors import InvalidValue
from core.events import MarketEvent
from gateway.client import GatewayClient
from gateway.orders import OrderView
from gateway.service import AgentAccount
from risk.limits import RiskLimits

log = logging.getLogger(__name__)


def _positions(account: AgentAccount) -> dict[Key, Decimal]:
    out: dict[Key, Decimal] = {}
    for key, amount in account.positions.items():
        venue, _, symbol = key.partition("|")
        out[(venue, symbol)] = amount
    return out


@dataclass(frozen=True)
class ShadowSettings:
    """What a shadow variant's private market needs: the scoring budget, the paper venues, the limits."""

    budget: Decimal
    paper: PaperConfig
    limits: RiskLimits


class AgentActor:
    """One strategy agent (see the module doc)."""

    def __init__(
        self,
        kind: str,
        config: Mapping[str, Any],
        refresh_every: int = 1,
        shadow: ShadowSettings | None = None,
    ) -> None:
        self._kind = kind
        self._config = dict(config)
        self._core: AgentCore[Any, Any] = AgentCore(build_strategy(kind, config))
        self._sandbox = (
            Sandbox(self._core.agent_id, shadow.budget, shadow.paper, shadow.limits)
            if shadow is not None
            else None
        )
        self._client: GatewayClient | Sandbox = (
            self._sandbox if self._sandbox is not None else GatewayClient(deadline_s=30)
        )
        self._refresh_every = max(1, refresh_every)
        self._batches = 0
        self._ready = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        await self._refresh_quietly()
        if self._sandbox is None:
            await self._restore_operator_pause()

    async def _restore_operator_pause(self) -> None:
        """Hold the agent paused when the operator's last logged control for it says so."""
        try:
            log_ = await self._client.acouncil_log()  # type: ignore[union-attr]
        except Exception:  # the agent runs; an operator pause the log holds is applied again
            log.exception("agent %s: operator controls not read", self._core.agent_id)
            return
        reason = operator_hold(log_, self._core.agent_id)
        if reason is not None:
            await self._execute(self._core.pause(reason, by="operator"))

    async def refresh(self) -> None:
        """Rebuild the account view from the gateway."""
        core = self._core
        believed_open = [o.intent_id for o in core.account.open_orders]
        account = await self._client.aagent_account(core.agent_id, believed_open)
        core.on_account(
            account.orders, _positions(account), account.budget, account.free, account.breaker
        )

    async def on_market_events(
        self, events: Sequence[MarketEvent], one_instant: bool = False
    ) -> int:
        """Decide on ``events``: once per market instant, or once for all with ``one_instant``.

        Each decision's orders are acknowledged by the gateway before the next decision.
        """
        await self._ready
        self._batches += 1
        if self._batches % self._refresh_every == 0:
            await self._refresh_quietly()
        sent = 0
        for group in [events] if one_instant else split_by_time(events):
            if self._sandbox is not None:
                await self._sandbox.on_instant(group)
            actions = self._core.on_events(group)
            await self._execute(actions)
            sent += len(actions)
            if self._sandbox is not None:  # in process: fills reach the shadow at once
                await self._sandbox.settle()
                await self._refresh_quietly()
        return sent

    async def score(self) -> dict[str, Decimal] | None:
        """A shadow's P&L, fees and scoring budget (None for an agent trading the fund's capital)."""
        return self._sandbox.score() if self._sandbox is not None else None

    async def reconfigure(self, config: Mapping[str, Any]) -> bool:
        """Adopt ``config`` (see the module doc); return whether anything changed."""
        config = dict(config)
        if config == self._config:
            return False
        strategy = build_strategy(self._kind, config)  # a bad config fails before anything stops
        if strategy.agent_id != self._core.agent_id:
            raise InvalidValue("config.agent_id", strategy.agent_id, "must stay the agent's id")
        paused = self._core.status is AgentStatus.PAUSED
        await self._execute(self._core.cancel_all())  # the new settings start from no orders
        metrics = self._core.metrics
        self._core = AgentCore(strategy)
        self._core.metrics = metrics  # the agent's counts go on across settings
        self._config = config
        if paused:
            self._core.pause("reconfigured while paused")
        await self._refresh_quietly()
        return True

    async def pause(self, reason: str = "", by: str = "council") -> int:
        await self._ready
        actions = self._core.pause(reason, by)
        await self._execute(actions)
        return len(actions)

    async def resume(self, by: str = "council") -> bool:
        await self._ready
        return self._core.resume(by)

    async def flatten(self, control_id: str, reason: str = "") -> dict[str, Any]:
        """Pause, cancel all, close every position reduce-only; return what was sent and answered."""
        await self._ready
        await self._refresh_quietly()
        actions = self._core.flatten(control_id, reason)
        denied_before = self._core.metrics.denied
        await self._execute(actions)
        closes = [a.intent for a in actions if isinstance(a, PlaceOrder)]
        await self._refresh_quietly()
        return {
            "canceled": sum(1 for a in actions if isinstance(a, CancelOrder)),
            "closing_orders": [f"{i.side} {i.amount} {i.symbol} on {i.venue}" for i in closes],
            "denied": self._core.metrics.denied - denied_before,
            "last_denial": self._core.metrics.last_denial,
            "positions_left": {
                f"{v}:{s}": str(q) for (v, s), q in self._core.account.positions.items() if q
            },
        }

    async def stop(self) -> int:
        await self._refresh_quietly()
        actions = self._core.stop()
        await self._execute(actions)
        return len(actions)

    async def stats(self) -> dict[str, Any]:
        return self._core.stats()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception:  # the next batch tries again; deciding on a slightly old view is safe
            log.exception("agent %s: account refresh failed", self._core.agent_id)

    async def _execute(self, actions: Sequence[Action]) -> None:
        core = self._core
        for action in actions:
            try:
                if isinstance(action, PlaceOrder):
                    result = await self._client.asubmit(action.intent)
                    denial = result.denial.message if result.denial is not None else None
                    core.on_placed(action, result.order, denial)
                elif isinstance(action, CancelOrder):
                    answer = await self._client.acancel(core.agent_id, action.intent_id)
                    core.on_canceled(action, answer if isinstance(answer, OrderView) else None)
            except Exception as exc:  # contained: the gateway stays the judge of what happened
                core.metrics.errors += 1
                core.metrics.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("agent %s: action %r failed", core.agent_id, action)
