"""Live public market data through ccxt, as the same ``MarketEvent``s the replay feed yields.

For every (venue, symbol) the feed runs one task per channel:

- ``book``: order book snapshots -> ``BookDelta(snapshot=True)`` (and ``TopOfBook``);
- ``trades``: public trades -> ``TradeTick`` (each trade id once);
- ``ticker``: best bid/ask -> ``TopOfBook``; mark/index price -> ``MarkEvent``;
- ``funding`` (contracts only): funding forecast -> ``MarkEvent``; when the next
  funding time rolls over, the settled rate is read back from the venue's
  funding history -> ``FundingEvent`` (never guessed from the forecast);
- ``liquidations`` (contracts only): the venue's public forced orders ->
  ``Liquidation(source="recorded")`` (``exchanges.feeds.liquidations`` reads each
  venue's documented message; each identical event once). A venue ccxt offers no
  liquidation method for is skipped with a warning, like any unsupported channel.

A channel uses ccxt.pro ``watch_*`` where the exchange object declares it
(``exchange.has["watchOrderBook"]``…) and otherwise polls ``fetch_*`` at a set
interval. Only public endpoints are used: no keys.

Everything is bounded: the event queue (producers wait, nothing is dropped),
the reconnect backoff (doubling up to a cap) and the run of consecutive errors
(past the limit the feed raises ``FeedGaveUp``). Every ccxt exception is mapped
to a ``core.errors`` type by ``exchanges.ccxt_errors``; a temporary one is
retried, any other ends the feed with that error. Floats from ccxt become
``Decimal`` through ``decimal_from_float``; an event without an exchange
timestamp gets the injected clock's time.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, cast

import ccxt
from pydantic import Field

from core.clock import NS_PER_MS, Clock
from core.config import ConfigModel
from core.errors import (
    ExchangeProtocolError,
    ExchangeUnavailable,
    InvalidValue,
    NotSupported,
    RetryableError,
    SwarmError,
    UnknownSymbol,
)
from core.events import (
    BookDelta,
    FundingEvent,
    GapEvent,
    Level,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from core.money import decimal_from_float
from exchanges.ccxt_errors import CallKind, ErrorContext, Redactor, map_ccxt_error
from exchanges.feeds.liquidations import ccxt_liquidation_events

log = logging.getLogger(__name__)

Channel = Literal["book", "trades", "ticker", "funding", "liquidations"]
_CONTRACT_ONLY: tuple[Channel, ...] = ("funding", "liquidations")
Sleep = Callable[[float], Awaitable[None]]


class PublicExchange(Protocol):
    """The part of a ccxt (pro or async_support) exchange object the feed relies on.

    The stream methods (``watch_order_book``, ``fetch_trades``…) are looked up
    by name according to ``has``.
    """

    @property
    def has(self) -> Mapping[str, Any]: ...

    @property
    def markets(self) -> Any: ...

    async def load_markets(self, reload: bool = False) -> Any: ...

    async def close(self) -> Any: ...


ExchangeFactory = Callable[[str], PublicExchange]


def ccxt_exchange_factory(prefer_watch: bool = True) -> ExchangeFactory:
    """Return a factory building ccxt.pro exchanges (or async_support ones) with rate limiting."""

    def build(venue: str) -> PublicExchange:
        cls: Any = None
        if prefer_watch:
            import ccxt.pro

            cls = getattr(ccxt.pro, venue, None)
        if cls is None:
            import ccxt.async_support

            cls = getattr(ccxt.async_support, venue, None)
        if cls is None:
            raise InvalidValue("venue", venue, "not an exchange known to ccxt")
        exchange: PublicExchange = cls({"enableRateLimit": True})
        return exchange

    return build


class LiveFeedConfig(ConfigModel):
    """Settings of a ``LiveFeed``."""

    channels: tuple[Channel, ...] = ("book", "trades", "ticker", "funding", "liquidations")
    prefer_watch: bool = True
    poll_interval_s: float = Field(default=1.0, gt=0)
    funding_poll_interval_s: float = Field(default=30.0, gt=0)
    book_depth: int = Field(default=20, ge=1, le=1000)
    book_top_of_book: bool = True
    trades_limit: int = Field(default=100, ge=1, le=1000)
    trades_backfill: bool = False
    """Emit the trades the first poll returns (trades from before the start)."""
    queue_size: int = Field(default=10_000, ge=1)
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    max_consecutive_errors: int = Field(default=10, ge=1)
    seen_trade_ids: int = Field(default=10_000, ge=1)
    funding_history_attempts: int = Field(default=10, ge=1)


class FeedGaveUp(ExchangeUnavailable):
    """A stream failed ``max_consecutive_errors`` times in a row; the feed stopped."""

    def __init__(self, venue: str, symbol: str, channel: str, errors: int, last: SwarmError):
        super().__init__(
            f"{venue} {symbol} {channel}: gave up after {errors} consecutive errors; last: {last}"
        )
        self.venue = venue
        self.symbol = symbol
        self.channel = channel
        self.errors = errors
        self.last = last


@dataclass
class FeedStats:
    """Counters for the console and the dashboard."""

    events: int = 0
    errors: int = 0
    retries: int = 0
    gaps: int = 0
    trades_without_side: int = 0
    funding_settlements_missed: int = 0
    queue_depth: int = 0


# -- CCXT ERRORS ------------------------------------------------------------
# ``exchanges.ccxt_errors`` owns the project-wide table; the feed only says what it was doing.

_REDACTOR = Redactor()  # public endpoints: no secret to hide, signatures are still blanked


def map_feed_error(exc: BaseException, *, venue: str, symbol: str, what: str) -> SwarmError:
    """Return the ``core.errors`` exception for a failed public read.

    Only venue and network failures are mapped (ccxt exceptions, ``OSError``,
    ``TimeoutError``); any other exception is a bug, not a venue condition, and
    is re-raised unchanged.
    """
    if isinstance(exc, SwarmError):
        return exc
    if not isinstance(exc, ccxt.BaseError | OSError | TimeoutError):
        raise exc
    context = ErrorContext(venue, f"{symbol} {what}", CallKind.READ, _REDACTOR, symbol=symbol)
    return map_ccxt_error(exc, context)


def is_retryable(error: SwarmError) -> bool:
    """Say whether a read that failed with ``error`` may simply be tried again."""
    return isinstance(error, RetryableError)


def backoff_delay(attempt: int, initial_s: float, max_s: float) -> float:
    """Return the wait before retry number ``attempt`` (1-based): doubling, capped at ``max_s``."""
    return min(initial_s * 2.0 ** min(attempt - 1, 60), max_s)


# -- CONVERSION (ccxt unified dicts -> events) -------------------------------


def _dec(value: Any, field: str) -> Decimal:
    try:
        result = decimal_from_float(value, field)
    except InvalidValue as exc:
        raise ExchangeProtocolError(f"{field}: {exc}") from None
    if result is None:
        raise ExchangeProtocolError(f"{field}: missing")
    return result


def _opt_dec(value: Any, field: str) -> Decimal | None:
    return None if value is None else _dec(value, field)


def _ts_ns(ms: Any, now_ns: int) -> int:
    if isinstance(ms, int) and not isinstance(ms, bool) and ms > 0:
        return ms * NS_PER_MS
    return now_ns


def _levels(raw: Any, field: str, depth: int) -> tuple[Level, ...]:
    if not isinstance(raw, Sequence):
        raise ExchangeProtocolError(f"{field}: expected a list of levels, got {raw!r:.80}")
    levels: list[Level] = []
    for entry in list(raw)[:depth]:
        if not isinstance(entry, Sequence) or len(entry) < 2:
            raise ExchangeProtocolError(f"{field}: bad level {entry!r:.80}")
        price, amount = _dec(entry[0], f"{field}.price"), _dec(entry[1], f"{field}.amount")
        if price <= 0 or amount < 0:
            raise ExchangeProtocolError(f"{field}: bad level {entry!r:.80}")
        levels.append((price, amount))
    return tuple(levels)


def book_events(
    venue: str, symbol: str, book: Mapping[str, Any], *, depth: int, now_ns: int, top: bool
) -> list[MarketEvent]:
    """Turn a ccxt order book into a snapshot ``BookDelta`` and, if asked, a ``TopOfBook``."""
    bids = _levels(book.get("bids"), "bids", depth)
    asks = _levels(book.get("asks"), "asks", depth)
    ts = _ts_ns(book.get("timestamp"), now_ns)
    nonce = book.get("nonce")
    sequence = nonce if isinstance(nonce, int) and not isinstance(nonce, bool) else None
    events: list[MarketEvent] = [BookDelta(ts, venue, symbol, bids, asks, True, sequence)]
    if top and bids and asks:
        events.append(TopOfBook(ts, venue, symbol, *bids[0], *asks[0]))
    return events


def trade_event(
    venue: str, symbol: str, trade: Mapping[str, Any], *, now_ns: int
) -> TradeTick | None:
    """Turn a ccxt trade into a ``TradeTick``; ``None`` if the venue gave no aggressor side."""
    side = trade.get("side")
    if side not in ("buy", "sell"):
        return None
    trade_id = trade.get("id")
    return TradeTick(
        _ts_ns(trade.get("timestamp"), now_ns),
        venue,
        symbol,
        _dec(trade.get("price"), "trade.price"),
        _dec(trade.get("amount"), "trade.amount"),
        "buy" if side == "buy" else "sell",
        None if trade_id is None else str(trade_id),
    )


def ticker_events(
    venue: str, symbol: str, ticker: Mapping[str, Any], *, now_ns: int
) -> list[MarketEvent]:
    """Turn a ccxt ticker into a ``TopOfBook`` (bid/ask known) and a ``MarkEvent`` (mark known)."""
    ts = _ts_ns(ticker.get("timestamp"), now_ns)
    events: list[MarketEvent] = []
    quote = [ticker.get(key) for key in ("bid", "bidVolume", "ask", "askVolume")]
    if all(value is not None for value in quote):
        bid, bid_size, ask, ask_size = (_dec(v, "ticker.quote") for v in quote)
        events.append(TopOfBook(ts, venue, symbol, bid, bid_size, ask, ask_size))
    mark = _opt_dec(ticker.get("markPrice"), "ticker.markPrice")
    index = _opt_dec(ticker.get("indexPrice"), "ticker.indexPrice")
    if mark is not None or index is not None:
        events.append(MarkEvent(ts, venue, symbol, mark, index))
    return events


def funding_mark_event(
    venue: str, symbol: str, rate: Mapping[str, Any], *, now_ns: int
) -> MarkEvent:
    """Turn a ccxt funding rate into a ``MarkEvent`` carrying the funding forecast."""
    next_ms = rate.get("fundingTimestamp")
    return MarkEvent(
        _ts_ns(rate.get("timestamp"), now_ns),
        venue,
        symbol,
        _opt_dec(rate.get("markPrice"), "funding.markPrice"),
        _opt_dec(rate.get("indexPrice"), "funding.indexPrice"),
        _opt_dec(rate.get("fundingRate"), "funding.fundingRate"),
        next_ms * NS_PER_MS if isinstance(next_ms, int) and next_ms > 0 else None,
    )


def _interval_hours(text: Any) -> Decimal | None:
    if isinstance(text, str) and text.endswith("h") and text[:-1].isdigit():
        return Decimal(text[:-1])
    return None


# -- STREAMS ----------------------------------------------------------------

_METHODS: dict[Channel, tuple[str, str, str, str]] = {
    # channel: (watch has-key, watch method, fetch has-key, fetch method)
    "book": ("watchOrderBook", "watch_order_book", "fetchOrderBook", "fetch_order_book"),
    "trades": ("watchTrades", "watch_trades", "fetchTrades", "fetch_trades"),
    "ticker": ("watchTicker", "watch_ticker", "fetchTicker", "fetch_ticker"),
    "funding": ("watchFundingRate", "watch_funding_rate", "fetchFundingRate", "fetch_funding_rate"),
    "liquidations": (
        "watchLiquidations",
        "watch_liquidations",
        "fetchLiquidations",
        "fetch_liquidations",
    ),
}


@dataclass
class _FundingState:
    next_ms: int | None = None
    interval_hours: Decimal | None = None
    pending: dict[int, int] = field(default_factory=dict)  # settlement ms -> attempts left
    emitted: deque[int] = field(default_factory=lambda: deque(maxlen=64))


class _Stream:
    """One channel of one (venue, symbol): fetch the next payload, convert it to events."""

    def __init__(
        self, feed: LiveFeed, exchange: PublicExchange, venue: str, symbol: str, channel: Channel
    ) -> None:
        self.feed, self.exchange = feed, exchange
        self.venue, self.symbol, self.channel = venue, symbol, channel
        cfg = feed.config
        watch_has, watch_name, fetch_has, fetch_name = _METHODS[channel]
        self.watching = bool(cfg.prefer_watch and exchange.has.get(watch_has))
        if not self.watching and not exchange.has.get(fetch_has):
            raise NotSupported(f"{venue} supports neither {watch_has} nor {fetch_has}")
        self.method: Callable[..., Awaitable[Any]] = getattr(
            exchange, watch_name if self.watching else fetch_name
        )
        self.interval_s = (
            cfg.funding_poll_interval_s if channel == "funding" else cfg.poll_interval_s
        )
        self.polled = False
        self.seen_ids: deque[str] = deque(maxlen=cfg.seen_trade_ids)
        self.seen_set: set[str] = set()
        self.last_trade_ms: int | None = None
        self.seen_liquidations: deque[Liquidation] = deque(maxlen=cfg.seen_trade_ids)
        self.seen_liquidation_set: set[Liquidation] = set()
        self.funding = _FundingState()

    @property
    def name(self) -> str:
        return f"{self.venue} {self.symbol} {self.channel}"

    async def next_payload(self) -> Any:
        cfg = self.feed.config
        if self.channel == "book":
            payload = await self.method(self.symbol, cfg.book_depth)
        elif self.channel == "trades" and not self.watching:
            payload = await self.method(self.symbol, None, cfg.trades_limit)
        else:
            payload = await self.method(self.symbol)
        return payload

    async def convert(self, payload: Any) -> list[MarketEvent]:
        try:
            return await self._convert(payload)
        except ExchangeProtocolError as exc:
            if str(exc).startswith(self.name):
                raise
            raise ExchangeProtocolError(f"{self.name}: {exc}") from exc

    async def _convert(self, payload: Any) -> list[MarketEvent]:
        now = self.feed.clock.now_ns()
        cfg = self.feed.config
        first_poll = not self.watching and not self.polled
        self.polled = True
        if not isinstance(payload, Mapping | Sequence):
            raise ExchangeProtocolError(f"{self.name}: unexpected payload {payload!r:.80}")
        if self.channel == "book":
            return book_events(
                self.venue,
                self.symbol,
                _mapping(payload, self.name),
                depth=cfg.book_depth,
                now_ns=now,
                top=cfg.book_top_of_book,
            )
        if self.channel == "ticker":
            return ticker_events(self.venue, self.symbol, _mapping(payload, self.name), now_ns=now)
        if self.channel == "trades":
            return self._new_trades(payload, now, emit=not first_poll or cfg.trades_backfill)
        if self.channel == "liquidations":
            return self._new_liquidations(payload, now, emit=not first_poll or cfg.trades_backfill)
        return await self._funding_events(_mapping(payload, self.name), now)

    def _new_trades(self, payload: Any, now: int, *, emit: bool) -> list[MarketEvent]:
        if not isinstance(payload, Sequence):
            raise ExchangeProtocolError(f"{self.name}: expected a list of trades")
        events: list[MarketEvent] = []
        for raw in payload:
            trade = _mapping(raw, self.name)
            trade_id, ts_ms = trade.get("id"), trade.get("timestamp")
            if trade_id is not None:
                key = str(trade_id)
                if key in self.seen_set:
                    continue
                if len(self.seen_ids) == self.seen_ids.maxlen:
                    self.seen_set.discard(self.seen_ids[0])
                self.seen_ids.append(key)
                self.seen_set.add(key)
            elif isinstance(ts_ms, int) and self.last_trade_ms is not None:
                if ts_ms <= self.last_trade_ms:
                    continue  # without ids, only strictly newer trades are certainly new
            if isinstance(ts_ms, int):
                self.last_trade_ms = max(ts_ms, self.last_trade_ms or ts_ms)
            if not emit:
                continue
            tick = trade_event(self.venue, self.symbol, trade, now_ns=now)
            if tick is None:
                self.feed.stats.trades_without_side += 1
                continue
            events.append(tick)
        return events

    def _new_liquidations(self, payload: Any, now: int, *, emit: bool) -> list[MarketEvent]:
        """Convert, and drop any event already delivered (identical in every field).

        When watching, ccxt's cache of parsed liquidations is read as well: ccxt.pro
        resolves a watch with the message that arrived, and one that arrives before
        the next ``watch_liquidations`` call reaches only that cache.
        """
        events: list[MarketEvent] = []
        cached = getattr(self.exchange, "liquidations", None) if self.watching else None
        if isinstance(cached, Sequence) and isinstance(payload, Sequence):
            payload = [*payload, *(x for x in cached if isinstance(x, Mapping))]
        converted = ccxt_liquidation_events(self.venue, self.symbol, payload, now_ns=now)
        for event in sorted(converted, key=lambda e: e.ts_ns):
            if event in self.seen_liquidation_set:
                continue
            if len(self.seen_liquidations) == self.seen_liquidations.maxlen:
                self.seen_liquidation_set.discard(self.seen_liquidations[0])
            self.seen_liquidations.append(event)
            self.seen_liquidation_set.add(event)
            if emit:
                events.append(event)
        return events

    async def _funding_events(self, rate: Mapping[str, Any], now: int) -> list[MarketEvent]:
        state = self.funding
        events: list[MarketEvent] = [funding_mark_event(self.venue, self.symbol, rate, now_ns=now)]
        next_ms = rate.get("fundingTimestamp")
        hours = _interval_hours(rate.get("interval"))
        if isinstance(next_ms, int):
            previous = state.next_ms
            if previous is not None and next_ms > previous:
                state.pending[previous] = self.feed.config.funding_history_attempts
                if hours is None:
                    hours = Decimal(next_ms - previous) / Decimal(3_600_000)
            state.next_ms = next_ms
        if hours is not None:
            state.interval_hours = hours
        if state.pending:
            events.extend(await self._settlements())
        return events

    async def _settlements(self) -> list[MarketEvent]:
        """Read settled rates back from the venue's funding history (never guess them)."""
        state = self.funding
        if not self.exchange.has.get("fetchFundingRateHistory"):
            self.feed.stats.funding_settlements_missed += len(state.pending)
            log.info("%s: settlement at %s not confirmable", self.name, sorted(state.pending))
            state.pending.clear()
            return []
        exchange: Any = self.exchange  # an optional method, declared by ``has``
        history = await exchange.fetch_funding_rate_history(self.symbol, min(state.pending))
        events: list[MarketEvent] = []
        for raw in history if isinstance(history, Sequence) else []:
            entry = _mapping(raw, self.name)
            ts_ms = entry.get("timestamp")
            if ts_ms in state.pending and ts_ms not in state.emitted and state.interval_hours:
                rate = _dec(entry.get("fundingRate"), "funding_history.fundingRate")
                events.append(
                    FundingEvent(
                        ts_ms * NS_PER_MS, self.venue, self.symbol, rate, state.interval_hours
                    )
                )
                state.emitted.append(ts_ms)
                del state.pending[ts_ms]
        for ts_ms in list(state.pending):
            state.pending[ts_ms] -= 1
            if state.pending[ts_ms] <= 0:
                del state.pending[ts_ms]
                self.feed.stats.funding_settlements_missed += 1
                log.warning("%s: settled rate at %d not in the venue's history", self.name, ts_ms)
        return events


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ExchangeProtocolError(f"{where}: expected an object, got {value!r:.80}")
    return value


@dataclass(frozen=True)
class _Failure:
    error: BaseException


_CLOSED = object()

# -- THE FEED ---------------------------------------------------------------


class LiveFeed:
    """Public live market data of several (venue, symbol) pairs as one async event stream.

    Single use: iterate ``events()`` once; ``close()`` (or leaving the
    iteration) cancels the streams and closes the exchange objects.
    """

    def __init__(
        self,
        subscriptions: Sequence[tuple[str, str]],
        *,
        clock: Clock,
        config: LiveFeedConfig | None = None,
        exchange_factory: ExchangeFactory | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not subscriptions:
            raise InvalidValue("subscriptions", subscriptions, "must name at least one pair")
        self.subscriptions = tuple(dict.fromkeys((v, s) for v, s in subscriptions))
        self.clock = clock
        self.config = config or LiveFeedConfig()
        self.sleep = sleep
        self.stats = FeedStats()
        self._factory = exchange_factory or ccxt_exchange_factory(self.config.prefer_watch)
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=self.config.queue_size)
        self._exchanges: dict[str, PublicExchange] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._closed = False

    async def __aenter__(self) -> LiveFeed:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def events(self) -> AsyncGenerator[MarketEvent, None]:
        """Yield events as they arrive; raise the error that stopped a stream.

        Use it under ``contextlib.aclosing`` (or call ``close()``) so that leaving
        the loop early closes the connections at once rather than at garbage collection.
        """
        if self._started:
            raise InvalidValue("events", "second call", "a LiveFeed is iterated once")
        self._started = True
        try:
            await self._start()
            while not self._closed:
                item = await self._queue.get()
                self.stats.queue_depth = self._queue.qsize()
                if isinstance(item, _Failure):
                    raise item.error
                if item is _CLOSED:
                    break
                self.stats.events += 1
                yield cast(MarketEvent, item)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop every stream and close the exchange objects; safe to call again."""
        self._closed = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self._exchanges:
            venue, exchange = self._exchanges.popitem()
            try:
                await exchange.close()
            except Exception:  # closing must not hide the reason the feed stopped
                log.exception("closing %s failed", venue)
        try:
            self._queue.put_nowait(_CLOSED)
        except asyncio.QueueFull:
            pass  # the consumer sees ``_closed`` before its next wait

    async def _start(self) -> None:
        streams: list[_Stream] = []
        for venue, symbol in self.subscriptions:
            exchange = self._exchanges.get(venue)
            if exchange is None:
                exchange = self._exchanges[venue] = self._factory(venue)
                await self._with_retries(venue, "*", "load_markets", exchange.load_markets)
                if self._closed:
                    return
            market = (exchange.markets or {}).get(symbol)
            if market is None:
                raise UnknownSymbol(symbol, venue)
            for channel in self.config.channels:
                if channel in _CONTRACT_ONLY and not market.get("contract"):
                    continue
                try:
                    streams.append(_Stream(self, exchange, venue, symbol, channel))
                except NotSupported as exc:
                    log.warning("%s %s: channel %s skipped: %s", venue, symbol, channel, exc)
        if not streams:
            raise NotSupported(f"no channel of {self.config.channels} is available")
        for stream in streams:
            self._tasks.append(asyncio.create_task(self._run(stream), name=f"feed {stream.name}"))

    async def _with_retries(
        self, venue: str, symbol: str, what: str, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        errors = 0
        while True:
            try:
                return await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = map_feed_error(exc, venue=venue, symbol=symbol, what=what)
                errors = await self._after_error(error, exc, errors, venue, symbol, what)

    async def _after_error(
        self,
        error: SwarmError,
        cause: BaseException,
        errors: int,
        venue: str,
        symbol: str,
        what: str,
    ) -> int:
        """Count ``error``; wait the backoff if it is retryable, else raise it."""
        self.stats.errors += 1
        if not is_retryable(error):
            if error is cause:
                raise error
            raise error from cause
        errors += 1
        if errors >= self.config.max_consecutive_errors:
            raise FeedGaveUp(venue, symbol, what, errors, error) from cause
        delay = backoff_delay(errors, self.config.backoff_initial_s, self.config.backoff_max_s)
        log.warning("%s %s %s: %s; retry %d in %.1fs", venue, symbol, what, error, errors, delay)
        self.stats.retries += 1
        await self.sleep(delay)
        return errors

    async def _run(self, stream: _Stream) -> None:
        try:
            errors = 0
            while True:
                try:
                    events = await stream.convert(await stream.next_payload())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    error = map_feed_error(
                        exc, venue=stream.venue, symbol=stream.symbol, what=stream.channel
                    )
                    if stream.channel == "book" and isinstance(exc, ccxt.InvalidNonce):
                        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                        gap = GapEvent(self.clock.now_ns(), stream.venue, stream.symbol, reason)
                        self.stats.gaps += 1
                        await self._queue.put(gap)
                    errors = await self._after_error(
                        error, exc, errors, stream.venue, stream.symbol, stream.channel
                    )
                    continue
                errors = 0
                for event in events:
                    await self._queue.put(event)
                if not stream.watching:
                    await self.sleep(stream.interval_s)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self._queue.put(_Failure(exc))
