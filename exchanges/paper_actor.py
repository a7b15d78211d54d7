"""The ``venue:<name>`` actor: a thin Ray shell over one ``PaperVenue``.

Contract:
- ``on_market_events(events)``: apply a batch of market events of this venue
  (books, trades, bars, funding, marks); returns what the venue itself generated
  (model liquidations) so the feed can publish them. Batches arrive in time order
  from the single feed actor.
- The ``Exchange`` port's calls (``create_order`` … ``fetch_balance``), used by
  the gateway through ``exchanges.venue_client.RemoteVenue``. They behave as the
  venue does: a refused order raises a ``core.errors.DeniedError`` and changes
  nothing; a reused client order id follows the venue's real rules.
- ``save(path)``: write the venue's whole state (``exchanges.paper.state``) so a
  resumed paper run (``--resume``) starts from it (``restore_from``).
- ``stats()``, ``check_conservation()``, ``all_orders()``, ``my_trades()``, ``account()``, ``ledger_by_kind()``: read-only
  views for the console and the invariant checker.
- ``set_faults(spec)`` / ``clear_faults()`` / ``fault_stats()``: chaos only. Switch on
  seeded venue faults (latency, timeouts, 5xx, lost acks, "not found" after create,
  rejections, an outage; ``chaos.faults``) on the exchange port's calls. Off by
  default, and then free: one ``is None`` test per call. Market data is never faulted.
- Calls are served one at a time (a plain actor), so market data and orders
  interleave in arrival order, as on a venue's matching engine.
- Dies: never restarted (``max_restarts=0``). It stands for the outside world, so
  chaos does not kill it; if it dies the run is over and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from chaos.faults import FaultSpec, VenueFaults, Verdict
from core.clock import RealClock, SimulatedClock
from core.config import PaperConfig
from core.errors import OrderNotFound
from core.events import MarketEvent, VenueEvent
from core.models import (
    Balances,
    FundingRate,
    Market,
    Order,
    OrderBookSnapshot,
    OrderRequest,
    Position,
    Ticker,
    Trade,
)
from exchanges.paper.state import load_venue, save_venue
from exchanges.paper.venue import PaperVenue

T = TypeVar("T")


class VenueActor:
    """Hold one paper venue; its time is the market time of the events it is fed."""

    def __init__(self, venue: str, config: PaperConfig, restore_from: str | None = None) -> None:
        self._name = venue
        self._market_ns = 0
        if restore_from is None:
            self._venue = PaperVenue.from_paper_config(venue, SimulatedClock(), config)
        else:  # a resumed paper run: the venue its WAL was written against
            self._venue, self._market_ns = load_venue(Path(restore_from), venue)
        self._faults: VenueFaults | None = None
        self._fault_totals: dict[str, int] = {}
        """What fired under the specs replaced so far (``fault_stats`` adds the current one's)."""

    # -- MARKET DATA ----------------------------------------------------------

    def on_market_events(self, events: Sequence[MarketEvent]) -> list[VenueEvent]:
        if events:
            self._market_ns = max(self._market_ns, events[-1].ts_ns)
        return self._venue.on_market_events(events)

    def save(self, path: str) -> dict[str, int]:
        """Save the venue for a resumed run (``exchanges.paper.state``); return bytes and market time."""
        size = save_venue(Path(path), self._name, self._venue, self._market_ns)
        return {"bytes": size, "market_time_ns": self._market_ns}

    # -- THE EXCHANGE PORT ----------------------------------------------------

    def load_markets(self) -> dict[str, Market]:
        return self._venue.markets()

    def create_order(self, request: OrderRequest) -> Order:
        if self._faults is None:
            return self._venue.submit(request)
        return self._faulty_create(self._faults, request)

    def create_orders(self, requests: Sequence[OrderRequest]) -> list[Order | Exception]:
        """Place a batch in one round trip; each answer is the order or the error the venue raised."""
        answers: list[Order | Exception] = []
        for request in requests:
            try:
                answers.append(self.create_order(request))
            except Exception as exc:  # a refusal of one order must not hide the others' answers
                answers.append(exc)
        return answers

    def cancel_order(
        self, symbol: str, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        call = partial(self._venue.cancel, symbol, id=id, client_order_id=client_order_id)
        if self._faults is None:
            return call()
        return self._faulty(
            self._faults, "cancel_order", call, client_order_id if id is None else None
        )

    def fetch_order(
        self, symbol: str, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        call = partial(self._venue.get_order, symbol, id=id, client_order_id=client_order_id)
        if self._faults is None:
            return call()
        if id is None and self._faults.hides(client_order_id):
            raise OrderNotFound(f"{self._name}: simulated: {client_order_id} not visible yet")
        return self._faulty(self._faults, "fetch_order", call)

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        if self._faults is None:
            return self._venue.open_orders(symbol)
        hidden = self._faults.hidden()
        orders = self._faulty(
            self._faults, "fetch_open_orders", partial(self._venue.open_orders, symbol)
        )
        return [o for o in orders if o.client_order_id not in hidden]

    def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        call = partial(self._venue.my_trades, symbol, since, limit)
        if self._faults is None:
            return call()
        return self._faulty(self._faults, "fetch_my_trades", call)

    def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        call = partial(self._venue.positions, symbols)
        if self._faults is None:
            return call()
        return self._faulty(self._faults, "fetch_positions", call)

    def fetch_balance(self) -> Balances:
        if self._faults is None:
            return self._venue.balances()
        return self._faulty(self._faults, "fetch_balance", self._venue.balances)

    def fetch_funding_rates(self, symbols: Sequence[str] | None = None) -> dict[str, FundingRate]:
        return self._venue.funding_rates(symbols)

    def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        return self._venue.order_book(symbol, limit)

    def fetch_ticker(self, symbol: str) -> Ticker:
        return self._venue.ticker(symbol)

    # -- FAULTS (chaos only) ----------------------------------------------------

    def set_faults(self, spec: FaultSpec | Mapping[str, Any]) -> dict[str, Any]:
        """Switch venue faults on (an outage starts now); return the spec in force."""
        parsed = spec if isinstance(spec, FaultSpec) else FaultSpec.model_validate(dict(spec))
        self._fold_counts()
        self._faults = VenueFaults(parsed, RealClock(), self._name) if parsed.active else None
        return parsed.model_dump()

    def clear_faults(self) -> dict[str, Any]:
        """Switch every fault off; return what fired since faults were first set."""
        stats = self.fault_stats()
        self._fold_counts()
        self._faults = None
        return stats

    def fault_stats(self) -> dict[str, Any]:
        """The spec in force (if any) and the counts of every fault fired since the first spec."""
        counts = dict(self._fault_totals)
        stats: dict[str, Any] = {"active": self._faults is not None}
        if self._faults is not None:
            stats.update(self._faults.stats())
            for kind, n in self._faults.counts.items():
                counts[kind] = counts.get(kind, 0) + n
        stats["counts"] = counts
        return stats

    def _fold_counts(self) -> None:
        if self._faults is not None:
            for kind, n in self._faults.counts.items():
                self._fault_totals[kind] = self._fault_totals.get(kind, 0) + n

    def _faulty_create(self, faults: VenueFaults, request: OrderRequest) -> Order:
        decision = faults.decide("create_order", request.client_order_id)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.verdict is Verdict.FAIL:
            assert decision.error is not None
            raise decision.error
        order = self._venue.submit(request)  # a refusal by the venue itself passes through
        if decision.hide and request.client_order_id:
            faults.hide(request.client_order_id)
        if decision.verdict is Verdict.LOSE_ANSWER:
            assert decision.error is not None
            raise decision.error
        return order

    @staticmethod
    def _faulty(
        faults: VenueFaults, method: str, call: Callable[[], T], client_order_id: str | None = None
    ) -> T:
        decision = faults.decide(method, client_order_id)
        if decision.delay_s:
            time.sleep(decision.delay_s)
        if decision.verdict is Verdict.FAIL:
            assert decision.error is not None
            raise decision.error
        answer = call()
        if decision.verdict is Verdict.LOSE_ANSWER:
            assert decision.error is not None
            raise decision.error
        return answer

    # -- VIEWS ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return dict(self._venue.stats())

    def check_conservation(self) -> list[str]:
        return self._venue.check_conservation()

    def all_orders(self) -> list[Order]:
        return self._venue.all_orders()

    def my_trades(self) -> list[Trade]:
        """Every trade of the account, unfaulted (the checker's view of the venue's record)."""
        return self._venue.my_trades(None, None, None)

    def ledger_by_kind(self) -> dict[str, dict[str, Decimal]]:
        """The account's cash ledger summed per asset and kind (deposit, trade, fee, funding, ...)."""
        sums: dict[str, dict[str, Decimal]] = {}
        # PaperVenue has no public reader of its ledger entries; this read-only view is the checker's.
        for entry in self._venue._account.ledger.entries():
            per_kind = sums.setdefault(entry.asset, {})
            per_kind[str(entry.kind)] = per_kind.get(str(entry.kind), Decimal(0)) + entry.amount
        return sums

    def account(self) -> tuple[Balances, list[Position]]:
        """The account's balances and positions, unfaulted (the checker's view)."""
        return self._venue.balances(), self._venue.positions(None)
