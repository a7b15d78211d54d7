"""Market-data events: the normalized stream the feed produces and the venues and agents consume.

These sit on the replay hot path (hundreds of thousands per second), so they are
frozen slotted dataclasses rather than pydantic models: validation happens once,
where the feed parses the recorded bytes. Prices and amounts are Decimal.
``ts_ns`` is the event's time in nanoseconds since the Unix epoch (UTC); the feed
orders the stream by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Level = tuple[Decimal, Decimal]
"""One price level: (price, amount). Amount 0 in a delta removes the level."""


@dataclass(frozen=True, slots=True)
class BookDelta:
    """Levels to apply to a venue's L2 book; ``snapshot`` replaces the whole book first."""

    ts_ns: int
    venue: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    snapshot: bool = False
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """Best bid and ask (Binance bookTicker, a Lean quote bar's close, a Bybit ticker)."""

    ts_ns: int
    venue: str
    symbol: str
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal


@dataclass(frozen=True, slots=True)
class TradeTick:
    """A public trade; ``side`` is the aggressor's side."""

    ts_ns: int
    venue: str
    symbol: str
    price: Decimal
    amount: Decimal
    side: Literal["buy", "sell"]
    trade_id: str | None = None


@dataclass(frozen=True, slots=True)
class Bar:
    """An OHLCV bar that closed at ``ts_ns`` (its open time plus ``interval_s``)."""

    ts_ns: int
    venue: str
    symbol: str
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    interval_s: int


@dataclass(frozen=True, slots=True)
class FundingEvent:
    """A funding settlement print: longs pay shorts ``rate`` times notional when rate > 0."""

    ts_ns: int
    venue: str
    symbol: str
    rate: Decimal
    interval_hours: Decimal
    mark_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MarkEvent:
    """Mark/index price and funding forecast for a perpetual (a ticker push)."""

    ts_ns: int
    venue: str
    symbol: str
    mark_price: Decimal | None
    index_price: Decimal | None = None
    funding_rate: Decimal | None = None
    next_funding_ns: int | None = None
    open_interest: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Liquidation:
    """A forced liquidation order; ``side`` is the liquidation order's side.

    ``sequence``: the paper venue's number of a print it made (its model's), so two
    synthetic positions liquidated at the same instant, price and amount stay two
    liquidations; None for recorded prints (the venues' streams carry no id).
    """

    ts_ns: int
    venue: str
    symbol: str
    side: Literal["buy", "sell"]
    price: Decimal
    amount: Decimal
    source: Literal["recorded", "model"]
    sequence: int | None = None


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """What a venue booked on the account for one funding print (made by the venue, not the market).

    ``amount`` is the cash credited (negative when the account paid); ``mark_price`` the
    price the venue used. The feed hands it to the gateway, which splits it among the
    agents holding the symbol, so the gateway's books stay equal to the venue's.
    """

    ts_ns: int
    venue: str
    symbol: str
    rate: Decimal
    mark_price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class GapEvent:
    """The feed lost the sequence of a book: it says so and resynchronises, never guesses."""

    ts_ns: int
    venue: str
    symbol: str
    reason: str
    expected: int | None = None
    got: int | None = None


MarketEvent = (
    BookDelta | TopOfBook | TradeTick | Bar | FundingEvent | MarkEvent | Liquidation | GapEvent
)

VenueEvent = MarketEvent | FundingPayment
"""What a paper venue makes from the market events it is fed: liquidations and the account's funding."""
