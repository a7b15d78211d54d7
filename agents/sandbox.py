"""A shadow agent's private market: its own paper venues and gateway service, zero capital from the fund.

``Sandbox`` has the gateway client's three calls an agent makes (``aagent_account``,
``asubmit``, ``acancel``), so ``agents.actor.AgentActor`` runs a shadow variant
with it in place of the fund's gateway: the same strategy code, the same risk
checks, the same WAL logic (on a simulated disk), against paper venues that see
the same market events as the fund's. Its P&L is what the incumbent's would have
been with the variant's parameters; nothing it does reaches the fund's venues,
budgets or WAL. The scoring budget is the incumbent's, so returns compare.

Driving it (what the actor does per market instant): ``on_instant(events)``
before the agent decides (the venues apply the events, the gateway takes the
marks), then the agent's calls, then ``settle()`` (fills are polled).
Pure of Ray; deterministic for its inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.clock import SimulatedClock
from core.config import PaperConfig
from core.events import FundingPayment, MarketEvent
from core.models import Market
from exchanges.feeds.actor import marks_of
from exchanges.paper.venue import PaperVenue
from gateway.disk import SimulatedDisk
from gateway.engine import GatewayEngine
from gateway.intents import OrderIntent
from gateway.orders import OrderView
from gateway.service import AgentAccount, GatewayService, SubmitResult
from gateway.wal import Wal
from risk.checks import Denial
from risk.limits import RiskLimits


class Sandbox:
    """See the module doc."""

    def __init__(
        self, agent_id: str, budget: Decimal, paper: PaperConfig, limits: RiskLimits
    ) -> None:
        self.agent_id = agent_id
        self._budget = budget
        self._clock = SimulatedClock(0)
        self._venues = {
            str(name): PaperVenue.from_paper_config(name, self._clock, paper)
            for name in paper.venues
        }
        markets: dict[tuple[str, str], Market] = {
            (name, symbol): m
            for name, v in self._venues.items()
            for symbol, m in v.markets().items()
        }
        self._service = GatewayService(
            engine=GatewayEngine(markets, limits, self._clock),
            wal=Wal("wal", disk=SimulatedDisk()),
            venues=dict(self._venues),
            clock=self._clock,
        )
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            await self._service.recover()
            self._service.set_budgets({self.agent_id: self._budget})
            self._started = True

    async def on_instant(self, events: Sequence[MarketEvent]) -> None:
        """Apply one market instant's events to the private venues and mark the gateway."""
        await self._start()
        if not events:
            return
        ts = max(e.ts_ns for e in events)
        if ts > self._clock.now_ns():
            self._clock.advance_to(ts)
        for name, venue in self._venues.items():
            mine = [e for e in events if e.venue == name]
            if not mine:
                continue
            for made in venue.on_market_events(mine):
                if isinstance(made, FundingPayment):  # booked as the fund's gateway books it
                    self._service.book_funding(made)
        prices = marks_of(events)
        if prices:
            self._service.mark(prices)

    async def settle(self) -> None:
        """Poll the private venues for fills (after the agent's calls of an instant)."""
        await self._start()
        await self._service.poll()

    # -- the gateway client's calls an agent makes -------------------------------

    async def aagent_account(self, agent_id: str, intent_ids: Sequence[str] = ()) -> AgentAccount:
        await self._start()
        return self._service.agent_account(agent_id, intent_ids)

    async def asubmit(self, intent: OrderIntent) -> SubmitResult:
        await self._start()
        return await self._service.submit(intent)

    async def acancel(self, agent_id: str, intent_id: str) -> OrderView | Denial | None:
        await self._start()
        return await self._service.cancel(agent_id, intent_id)

    # -- the score ---------------------------------------------------------------

    def score(self) -> dict[str, Decimal]:
        """The shadow's P&L, fees and scoring budget (what the council samples)."""
        view = self._service.engine.snapshot().agents.get(self.agent_id)
        return {
            "pnl": view.pnl if view is not None else Decimal(0),
            "budget": self._budget,
            "fees": sum(view.fees.values(), Decimal(0)) if view is not None else Decimal(0),
        }
