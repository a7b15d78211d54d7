"""Stress scenarios for a backtest: the same run with the world made harder, one knob at a time.

A ``Perturbation`` changes what the backtest replays or how its paper venues fill,
never the strategy:

- ``fee_multiplier``: every maker and taker fee of the paper venues scaled (``2``: fees
  doubled; a rebate scales too);
- ``taker_slippage_bps``: every taker fill priced that many bps worse than the book it
  walked (buys higher, sells lower, rounded away from us to the tick);
- ``latency_ns``: the agents see the market that much later than the venues do, so
  their orders meet a market that has moved on (feed + decision latency in one);
- ``price_shock_bps``: from ``shock_ns`` on, every price in the data (books, trades,
  bars, marks, liquidations) jumps by that many bps, once: resting orders are crossed at
  their stale prices and positions are marked at the new level;
- ``funding_flip``: every funding rate (prints and tickers) changes sign.

The transforms are pure functions of the events; ``DelayLine`` holds what the agents
have not seen yet. Nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from core.book import OrderBook
from core.config import PaperConfig
from core.errors import InvalidValue
from core.events import (
    Bar,
    BookDelta,
    FundingEvent,
    Level,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)

ONE = Decimal(1)
BPS = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Perturbation:
    """One stress scenario (see the module doc); the default changes nothing."""

    name: str = "base"
    fee_multiplier: Decimal = ONE
    taker_slippage_bps: Decimal = Decimal(0)
    latency_ns: int = 0
    price_shock_bps: Decimal = Decimal(0)
    shock_ns: int | None = None
    funding_flip: bool = False

    def __post_init__(self) -> None:
        if not self.fee_multiplier >= 0:
            raise InvalidValue("fee_multiplier", self.fee_multiplier, "must be >= 0")
        if not self.taker_slippage_bps >= 0:
            raise InvalidValue("taker_slippage_bps", self.taker_slippage_bps, "must be >= 0")
        if self.latency_ns < 0:
            raise InvalidValue("latency_ns", self.latency_ns, "must be >= 0")
        if not -5000 < self.price_shock_bps < 5000:
            raise InvalidValue("price_shock_bps", self.price_shock_bps, "must be within +-5000")
        if self.price_shock_bps and self.shock_ns is None:
            raise InvalidValue("shock_ns", None, "a price shock needs the time it happens")

    @property
    def is_base(self) -> bool:
        """Tell whether this scenario changes nothing."""
        return (
            self.fee_multiplier == ONE
            and not self.taker_slippage_bps
            and not self.latency_ns
            and not self.price_shock_bps
            and not self.funding_flip
        )

    def paper(self, paper: PaperConfig) -> PaperConfig:
        """Return the ``[paper]`` section with this scenario's venue knobs applied."""
        if self.fee_multiplier == ONE and not self.taker_slippage_bps:
            return paper
        return paper.model_copy(
            update={
                "fee_multiplier": paper.fee_multiplier * self.fee_multiplier,
                "taker_slippage_bps": paper.taker_slippage_bps + self.taker_slippage_bps,
            }
        )

    def start(self) -> Stressed:
        """Return the state that transforms one run's events (one per run)."""
        return Stressed(self)


class Stressed:
    """One run's transform of the market events under a ``Perturbation``.

    An L2 book is sent as differences, so a shock cannot shift each difference alone
    (the levels from before would stay at the old prices and cross the book): the book is
    mirrored unshocked, and at the first difference from the shock on it is re-sent whole,
    shifted, as a snapshot; later differences are shifted as they come.
    """

    def __init__(self, perturbation: Perturbation) -> None:
        self.perturbation = perturbation
        shock_bps = perturbation.price_shock_bps
        self._factor = ONE + shock_bps * BPS if shock_bps else None
        self._books: dict[tuple[str, str], OrderBook] = {}
        self._shifted: set[tuple[str, str]] = set()

    def transform(self, events: Sequence[MarketEvent]) -> list[MarketEvent]:
        """Return the events as this scenario's market shows them."""
        out = list(events)
        factor, shock_ns = self._factor, self.perturbation.shock_ns
        if factor is not None and shock_ns is not None:
            out = [self._shock(e, factor) if e.ts_ns >= shock_ns else self._mirror(e) for e in out]
        if self.perturbation.funding_flip:
            out = [flip_funding(e) for e in out]
        return out

    def _mirror(self, event: MarketEvent) -> MarketEvent:
        if isinstance(event, BookDelta):
            key = (event.venue, event.symbol)
            book = self._books.get(key)
            if book is None:
                book = self._books[key] = OrderBook(*key)
            book.apply(event.bids, event.asks, event.snapshot)
        return event

    def _shock(self, event: MarketEvent, factor: Decimal) -> MarketEvent:
        if isinstance(event, BookDelta) and not event.snapshot:
            key = (event.venue, event.symbol)
            if key not in self._shifted:
                self._shifted.add(key)
                book = self._books.pop(key, None)
                if book is not None:
                    book.apply(event.bids, event.asks)
                    whole = replace(
                        event, bids=tuple(book.bids.levels()), asks=tuple(book.asks.levels()),
                        snapshot=True,
                    )  # fmt: skip
                    return shock(whole, factor)
        elif isinstance(event, BookDelta):
            self._shifted.add((event.venue, event.symbol))
        return shock(event, factor)


def _levels(levels: Iterable[Level], factor: Decimal) -> tuple[Level, ...]:
    return tuple((price * factor, amount) for price, amount in levels)


def _times(value: Decimal | None, factor: Decimal) -> Decimal | None:
    return None if value is None else value * factor


def shock(event: MarketEvent, factor: Decimal) -> MarketEvent:
    """Return ``event`` with every price in it multiplied by ``factor``."""
    if isinstance(event, TopOfBook):
        return replace(event, bid=event.bid * factor, ask=event.ask * factor)
    if isinstance(event, BookDelta):
        return replace(event, bids=_levels(event.bids, factor), asks=_levels(event.asks, factor))
    if isinstance(event, TradeTick | Liquidation):
        return replace(event, price=event.price * factor)
    if isinstance(event, Bar):
        return replace(
            event,
            open=event.open * factor,
            high=event.high * factor,
            low=event.low * factor,
            close=event.close * factor,
        )
    if isinstance(event, FundingEvent):
        return replace(event, mark_price=_times(event.mark_price, factor))
    if isinstance(event, MarkEvent):
        return replace(
            event,
            mark_price=_times(event.mark_price, factor),
            index_price=_times(event.index_price, factor),
        )
    return event


def flip_funding(event: MarketEvent) -> MarketEvent:
    """Return ``event`` with its funding rate's sign changed (other events unchanged)."""
    if isinstance(event, FundingEvent):
        return replace(event, rate=-event.rate)
    if isinstance(event, MarkEvent) and event.funding_rate is not None:
        return replace(event, funding_rate=-event.funding_rate)
    return event


class DelayLine:
    """What the agents will see, ``latency_ns`` after the venues did."""

    def __init__(self, latency_ns: int) -> None:
        if latency_ns < 0:
            raise InvalidValue("latency_ns", latency_ns, "must be >= 0")
        self._latency = latency_ns
        self._queue: deque[tuple[int, list[MarketEvent]]] = deque()

    def push(self, now_ns: int, events: Sequence[MarketEvent]) -> None:
        """Hold ``events`` (seen by the venues at ``now_ns``)."""
        if events:
            self._queue.append((now_ns + self._latency, list(events)))

    def release(self, now_ns: int) -> list[MarketEvent]:
        """Return, oldest first, every held event the agents may see at ``now_ns``."""
        out: list[MarketEvent] = []
        while self._queue and self._queue[0][0] <= now_ns:
            out.extend(self._queue.popleft()[1])
        return out

    def __len__(self) -> int:
        return sum(len(events) for _, events in self._queue)
