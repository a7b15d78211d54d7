"""Shared pieces of the replay readers: the reading context, checked Decimals, books, symbols.

Readers turn recorded formats into ``core.events``; these helpers keep their hot
loops short (cached Decimal parsing, direct event construction, dict books) and
their rules in one place (what a valid price is, how a venue symbol becomes a
ccxt unified symbol).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from core.book import OrderBook
from core.events import BookDelta, Level, TopOfBook, TradeTick
from exchanges.feeds.replay_stats import FileCounters


class BadValue(ValueError):
    """A value inside a record is unusable; the reader adds the file and line."""


# -- READING CONTEXT ----------------------------------------------------------

BookKey = tuple[str, str]
"""(venue, unified symbol)"""


class ReadContext:
    """What a reader gets from the feed: the counters, the symbol filter, the book registry.

    ``counters`` is the current file's; a reader of several files in sequence
    swaps it as it moves on, so that whoever wraps the reader (the time window)
    charges each event to the file that produced it.
    """

    __slots__ = ("accept", "books", "counters")

    def __init__(
        self,
        counters: FileCounters,
        books: dict[BookKey, LevelBook],
        accept: Callable[[str], bool] | None = None,
    ) -> None:
        self.counters = counters
        self.books = books
        self.accept = accept


def symbol_filter(symbols: Collection[str] | None) -> Callable[[str], bool] | None:
    """Return a predicate for unified symbols, or None to accept all.

    An entry with a slash is a market (``BTC/USDT:USDT``); one without is a base
    asset (``BTC``) and accepts every market of that base.
    """
    if symbols is None:
        return None
    markets = frozenset(s for s in symbols if "/" in s)
    bases = frozenset(s.upper() for s in symbols if "/" not in s)

    def accept(symbol: str) -> bool:
        return symbol in markets or symbol.split("/", 1)[0] in bases

    return accept


# -- DECIMALS -----------------------------------------------------------------

_CACHE_LIMIT = 1 << 20
_NAN = Decimal("NaN")


def _decimal(text: object) -> Decimal:
    if type(text) is not str:
        raise BadValue(f"expected a decimal string, got {text!r}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadValue(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise BadValue(f"not a finite number: {text!r}")
    return value


class _PriceTable(dict[str, Decimal]):
    __slots__ = ()

    def __missing__(self, text: Any) -> Decimal:
        # Inlined checks: a miss runs tens of thousands of times per capture.
        if type(text) is str:
            try:
                value = Decimal(text)
            except InvalidOperation:
                value = _NAN
            if value.is_finite() and value > 0:
                if len(self) >= _CACHE_LIMIT:
                    self.clear()
                self[text] = value
                return value
        value = _decimal(text)
        raise BadValue(f"price {value} must be > 0")


class _AmountTable(dict[str, Decimal]):
    __slots__ = ()

    def __missing__(self, text: Any) -> Decimal:
        if type(text) is str:
            try:
                value = Decimal(text)
            except InvalidOperation:
                value = _NAN
            if value.is_finite() and value >= 0:
                if len(self) >= _CACHE_LIMIT:
                    self.clear()
                self[text] = value
                return value
        value = _decimal(text)
        raise BadValue(f"amount {value} must be >= 0")


class Decimals:
    """Price and amount strings to checked Decimals, each distinct string parsed once.

    Recorded books repeat the same few thousand strings, and a dict hit costs a
    quarter of ``Decimal(str)``. Hot loops index ``prices``/``amounts`` directly;
    a string not seen yet is parsed and checked there (prices > 0, amounts >= 0,
    both finite; anything else raises ``BadValue``).
    """

    __slots__ = ("amounts", "prices")

    def __init__(self) -> None:
        self.prices: dict[str, Decimal] = _PriceTable()
        self.amounts: dict[str, Decimal] = _AmountTable()

    def price(self, text: Any) -> Decimal:
        return self.prices[text]

    def amount(self, text: Any) -> Decimal:
        return self.amounts[text]


def signed_decimal(text: object) -> Decimal:
    """Parse a finite decimal that may be negative (a funding rate)."""
    return _decimal(text)


def decimal_from_double(value: object, what: str) -> Decimal:
    """Convert a parquet double to the Decimal of its shortest repr; refuse NaN and inf."""
    if type(value) is int:
        return Decimal(value)
    if type(value) is not float:
        raise BadValue(f"{what}: expected a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise BadValue(f"{what}: not a finite number: {value!r}")
    if value.is_integer():
        return Decimal(int(value))
    return Decimal(repr(value))


# -- FAST EVENT CONSTRUCTION --------------------------------------------------
# A frozen dataclass's __init__ assigns each field through object.__setattr__,
# which costs about half a microsecond per event; on a capture with 66k
# bookTickers that is a tenth of the whole replay. These builders create the
# very same objects by setting the slots directly. They are used only while the
# event classes are plain slotted dataclasses without __post_init__ (checked at
# import); otherwise the builders are the classes themselves.


def _slot_setters(
    cls: type, names: tuple[str, ...]
) -> tuple[Callable[[Any, Any], None], ...] | None:
    if tuple(f.name for f in fields(cls)) != names or hasattr(cls, "__post_init__"):
        return None
    return tuple(getattr(cls, name).__set__ for name in names)


def _top_of_book_builder() -> Callable[
    [int, str, str, Decimal, Decimal, Decimal, Decimal], TopOfBook
]:
    names = ("ts_ns", "venue", "symbol", "bid", "bid_size", "ask", "ask_size")
    setters = _slot_setters(TopOfBook, names)
    if setters is None:
        return TopOfBook
    s_ts, s_venue, s_symbol, s_bid, s_bid_size, s_ask, s_ask_size = setters
    new = object.__new__

    def build(
        ts_ns: int,
        venue: str,
        symbol: str,
        bid: Decimal,
        bid_size: Decimal,
        ask: Decimal,
        ask_size: Decimal,
    ) -> TopOfBook:
        event: TopOfBook = new(TopOfBook)
        s_ts(event, ts_ns)
        s_venue(event, venue)
        s_symbol(event, symbol)
        s_bid(event, bid)
        s_bid_size(event, bid_size)
        s_ask(event, ask)
        s_ask_size(event, ask_size)
        return event

    return build


def _trade_builder() -> Callable[
    [int, str, str, Decimal, Decimal, Literal["buy", "sell"], str | None], TradeTick
]:
    names = ("ts_ns", "venue", "symbol", "price", "amount", "side", "trade_id")
    setters = _slot_setters(TradeTick, names)
    if setters is None:
        return TradeTick
    s_ts, s_venue, s_symbol, s_price, s_amount, s_side, s_trade_id = setters
    new = object.__new__

    def build(
        ts_ns: int,
        venue: str,
        symbol: str,
        price: Decimal,
        amount: Decimal,
        side: Literal["buy", "sell"],
        trade_id: str | None,
    ) -> TradeTick:
        event: TradeTick = new(TradeTick)
        s_ts(event, ts_ns)
        s_venue(event, venue)
        s_symbol(event, symbol)
        s_price(event, price)
        s_amount(event, amount)
        s_side(event, side)
        s_trade_id(event, trade_id)
        return event

    return build


make_top_of_book = _top_of_book_builder()
"""Build a TopOfBook (positional fields), equal to ``TopOfBook(...)``."""
make_trade = _trade_builder()
"""Build a TradeTick (positional fields, trade id included), equal to ``TradeTick(...)``."""


# -- BOOKS --------------------------------------------------------------------


class LevelBook:
    """A rebuilt L2 book kept as two price -> amount dicts (no sorting on the hot path).

    A diff is applied with one ``dict.update`` per side: an amount of 0 stays in
    the dict as a deleted level, and every reader of the book skips it; ``apply``
    prunes the deleted levels once they pile up. ``to_order_book`` builds a
    sorted ``core.book.OrderBook`` copy when someone asks for it.
    """

    __slots__ = ("_prune_at", "asks", "bids", "sequence", "symbol", "ts_ns", "venue")

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.sequence: int | None = None
        self.ts_ns = 0
        self._prune_at = _PRUNE_MIN

    def apply(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        """Apply diff levels (amount 0 deletes the level)."""
        self.bids.update(bids)
        self.asks.update(asks)
        if len(self.bids) + len(self.asks) > self._prune_at:
            self.prune()

    def prune(self) -> None:
        """Drop deleted levels; the next prune waits until the book has doubled again."""
        self.bids = {p: a for p, a in self.bids.items() if a}
        self.asks = {p: a for p, a in self.asks.items() if a}
        self._prune_at = max(_PRUNE_MIN, 2 * (len(self.bids) + len(self.asks)))

    def sorted_levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Return (bids best first, asks best first) without deleted levels."""
        bids = tuple(sorted(((p, a) for p, a in self.bids.items() if a), reverse=True))
        asks = tuple(sorted((p, a) for p, a in self.asks.items() if a))
        return bids, asks

    def snapshot_event(self, ts_ns: int) -> BookDelta:
        bids, asks = self.sorted_levels()
        return BookDelta(ts_ns, self.venue, self.symbol, bids, asks, True, self.sequence)

    def to_order_book(self) -> OrderBook:
        bids, asks = self.sorted_levels()
        book = OrderBook(self.venue, self.symbol)
        # Ascending insertion keeps every insort an append.
        book.apply(bids[::-1], asks, snapshot=True)
        book.sequence = self.sequence
        book.ts_ns = self.ts_ns
        return book


_PRUNE_MIN = 20_000


def load_levels(side: dict[Decimal, Decimal], raw: Any, dec: Decimals) -> tuple[Level, ...]:
    """Fill ``side`` from snapshot levels ``[[price, amount], ...]``; amounts must be > 0."""
    out: list[Level] = []
    for price_text, amount_text in raw:
        price = dec.price(price_text)
        amount = dec.amount(amount_text)
        if not amount:
            raise BadValue(f"snapshot level at {price_text} has amount 0")
        side[price] = amount
        out.append((price, amount))
    return tuple(out)


def convert_levels(raw: Any, dec: Decimals) -> tuple[Level, ...]:
    """Turn diff levels ``[[price, amount], ...]`` into checked Decimal pairs."""
    prices = dec.prices
    amounts = dec.amounts
    return tuple([(prices[p], amounts[a]) for p, a in raw])


# -- SYMBOLS ------------------------------------------------------------------

_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USDE",
    "USD",
    "EUR",
    "TRY",
    "BRL",
    "DAI",
    "BTC",
    "ETH",
    "BNB",
)


def split_pair(raw: str) -> tuple[str, str]:
    """Split a venue pair like ``BTCUSDT`` into (base, quote) by its quote suffix."""
    upper = raw.upper()
    for quote in _QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return upper[: -len(quote)], quote
    raise BadValue(f"cannot tell the quote currency of symbol {raw!r}")


def unified_symbol(raw: str, market: str) -> str:
    """Map a venue symbol to ccxt's unified form for a market kind.

    ``market``: ``spot`` (BTC/USDT), ``linear`` (BTC/USDT:USDT, settled in the
    quote), ``inverse`` (BTC/USD:BTC, settled in the base). A dated contract
    ``BTCUSDT_240927`` gets its expiry suffix; ``_PERP`` is a perpetual.
    """
    pair, _, suffix = raw.upper().partition("_")
    base, quote = split_pair(pair)
    if market == "spot":
        return f"{base}/{quote}"
    if market == "linear":
        symbol = f"{base}/{quote}:{quote}"
    elif market == "inverse":
        symbol = f"{base}/{quote}:{base}"
    else:
        raise BadValue(f"unknown market kind {market!r}")
    if suffix and suffix != "PERP":
        if not suffix.isdigit():
            raise BadValue(f"cannot read the contract suffix of {raw!r}")
        symbol = f"{symbol}-{suffix}"
    return symbol
