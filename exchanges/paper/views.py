"""Per-symbol market state of the paper venue and the ccxt-shaped views built from it.

Pure: these functions read state and return frozen ``core.models``; nothing here
changes the venue.
"""

from __future__ import annotations

from decimal import Decimal

from core.book import OrderBook
from core.models import (
    FundingRate,
    OrderBookSnapshot,
    Position,
    PositionSide,
    Ticker,
)
from core.money import ZERO
from exchanges.paper.margin import PositionState, cross_liquidation_price
from exchanges.paper.matching import book_mid
from exchanges.paper.rules import MarketRules


class SymbolState:
    """What the venue knows about one market from the feed."""

    __slots__ = (
        "book",
        "has_depth",
        "has_mark_feed",
        "index",
        "last_funding_ns",
        "last_funding_rate",
        "last_price",
        "mark",
        "next_funding_ns",
        "open_interest",
        "predicted_funding_rate",
        "rules",
        "top_mid",
        "ts_ns",
    )

    def __init__(self, venue: str, rules: MarketRules) -> None:
        self.rules = rules
        self.book = OrderBook(venue, rules.symbol)
        self.has_depth = False  # a BookDelta has been applied: TopOfBook no longer replaces it
        self.has_mark_feed = False  # MarkEvents set the mark: book and trades no longer do
        self.mark: Decimal | None = None
        self.index: Decimal | None = None
        self.last_price: Decimal | None = None
        self.top_mid: Decimal | None = None
        self.predicted_funding_rate: Decimal | None = None
        self.next_funding_ns: int | None = None
        self.last_funding_rate: Decimal | None = None
        self.last_funding_ns: int | None = None
        self.open_interest: Decimal | None = None
        self.ts_ns = 0

    def mid(self) -> Decimal | None:
        """Return the book's mid (the one side's best when the other is empty)."""
        mid = book_mid(self.book.bids, self.book.asks)
        return mid if mid is not None else self.top_mid

    def reference_price(self) -> Decimal | None:
        """Return the best price we know: mark, else mid, else last trade."""
        if self.mark is not None:
            return self.mark
        mid = self.mid()
        return mid if mid is not None else self.last_price


def order_book_snapshot(
    venue: str, state: SymbolState, limit: int | None, timestamp_ms: int
) -> OrderBookSnapshot:
    book = state.book
    return OrderBookSnapshot(
        venue=venue,
        symbol=state.rules.symbol,
        bids=tuple(book.bids.levels(limit)),
        asks=tuple(book.asks.levels(limit)),
        timestamp=timestamp_ms,
        sequence=book.sequence,
    )


def ticker(venue: str, state: SymbolState, timestamp_ms: int) -> Ticker:
    bid, ask = state.book.bids.best(), state.book.asks.best()
    return Ticker(
        venue=venue,
        symbol=state.rules.symbol,
        timestamp=timestamp_ms,
        bid=bid[0] if bid else None,
        bid_volume=bid[1] if bid else None,
        ask=ask[0] if ask else None,
        ask_volume=ask[1] if ask else None,
        last=state.last_price,
        mark_price=state.mark,
        index_price=state.index,
    )


def funding_rate(venue: str, state: SymbolState, timestamp_ms: int) -> FundingRate | None:
    """Return the forecast from the last MarkEvent, else the last settled rate, else None."""
    rules = state.rules
    if state.predicted_funding_rate is not None:
        rate = state.predicted_funding_rate
        funding_ms = (state.next_funding_ns or state.ts_ns) // 1_000_000
    elif state.last_funding_rate is not None and state.last_funding_ns is not None:
        rate = state.last_funding_rate
        funding_ms = state.last_funding_ns // 1_000_000
    else:
        return None
    return FundingRate(
        venue=venue,
        symbol=rules.symbol,
        rate=rate,
        funding_timestamp=funding_ms,
        interval_hours=rules.funding_interval_hours,
        mark_price=state.mark,
        index_price=state.index,
        next_funding_timestamp=(
            state.next_funding_ns // 1_000_000 if state.next_funding_ns is not None else None
        ),
        timestamp=timestamp_ms,
    )


def position_view(
    venue: str,
    position: PositionState,
    rules: MarketRules,
    mark: Decimal | None,
    other_equity: Decimal,
    timestamp_ms: int,
) -> Position:
    """Return the ccxt-shaped position; the liquidation price assumes cross margin."""
    entry = position.entry_price()
    price = mark if mark is not None else entry
    assert price is not None  # an open position has an entry price
    liquidation = cross_liquidation_price(position, price, other_equity)
    return Position(
        venue=venue,
        symbol=rules.symbol,
        side=PositionSide.LONG if position.contracts > 0 else PositionSide.SHORT,
        contracts=position.size(),
        contract_size=rules.contract_size,
        entry_price=entry,
        mark_price=price,
        notional=position.notional(price),
        leverage=position.leverage,
        unrealized_pnl=position.unrealized_pnl(price),
        liquidation_price=(
            rules.price_tick * (liquidation / rules.price_tick).to_integral_value()
            if liquidation is not None
            else None
        ),
        initial_margin=position.initial_margin(price),
        maintenance_margin=position.maintenance_margin(price),
        margin_mode="cross",
        timestamp=timestamp_ms,
    )


def other_equity(
    cash: Decimal, positions: list[PositionState], marks: dict[str, Decimal], excluded: str
) -> Decimal:
    """Return cash plus the other positions' unrealized P&L minus their maintenance margin."""
    total = cash
    for position in positions:
        if position.symbol == excluded or not position.contracts:
            continue
        mark = marks.get(position.symbol) or position.entry_price() or ZERO
        total += position.unrealized_pnl(mark) - position.maintenance_margin(mark)
    return total
