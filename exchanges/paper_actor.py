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
- ``stats()``, ``check_conservation()``, ``all_orders()``: read-only views for the
  console and the invariant checker.
- Calls are served one at a time (a plain actor), so market data and orders
  interleave in arrival order, as on a venue's matching engine.
- Dies: never restarted (``max_restarts=0``). It stands for the outside world, so
  chaos does not kill it; if it dies the run is over and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.clock import SimulatedClock
from core.config import PaperConfig
from core.events import MarketEvent
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
from exchanges.paper.venue import PaperVenue


class VenueActor:
    """Hold one paper venue; its time is the market time of the events it is fed."""

    def __init__(self, venue: str, config: PaperConfig) -> None:
        self._venue = PaperVenue.from_paper_config(venue, SimulatedClock(), config)

    # -- MARKET DATA ----------------------------------------------------------

    def on_market_events(self, events: Sequence[MarketEvent]) -> list[MarketEvent]:
        return self._venue.on_market_events(events)

    # -- THE EXCHANGE PORT ----------------------------------------------------

    def load_markets(self) -> dict[str, Market]:
        return self._venue.markets()

    def create_order(self, request: OrderRequest) -> Order:
        return self._venue.submit(request)

    def create_orders(self, requests: Sequence[OrderRequest]) -> list[Order | Exception]:
        """Place a batch in one round trip; each answer is the order or the error the venue raised."""
        answers: list[Order | Exception] = []
        for request in requests:
            try:
                answers.append(self._venue.submit(request))
            except Exception as exc:  # a refusal of one order must not hide the others' answers
                answers.append(exc)
        return answers

    def cancel_order(
        self, symbol: str, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return self._venue.cancel(symbol, id=id, client_order_id=client_order_id)

    def fetch_order(
        self, symbol: str, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return self._venue.get_order(symbol, id=id, client_order_id=client_order_id)

    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        return self._venue.open_orders(symbol)

    def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        return self._venue.my_trades(symbol, since, limit)

    def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        return self._venue.positions(symbols)

    def fetch_balance(self) -> Balances:
        return self._venue.balances()

    def fetch_funding_rates(self, symbols: Sequence[str] | None = None) -> dict[str, FundingRate]:
        return self._venue.funding_rates(symbols)

    def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        return self._venue.order_book(symbol, limit)

    def fetch_ticker(self, symbol: str) -> Ticker:
        return self._venue.ticker(symbol)

    # -- VIEWS ----------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return dict(self._venue.stats())

    def check_conservation(self) -> list[str]:
        return self._venue.check_conservation()

    def all_orders(self) -> list[Order]:
        return self._venue.all_orders()
