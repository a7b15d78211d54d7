"""LiveFeed, offline: real ccxt classes over recorded HTTP responses, fakes for watch and faults.

No test opens a socket: the ccxt network method is stubbed (an unexpected URL
fails the test) and an autouse guard makes every connect attempt raise.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from core.clock import NS_PER_MS, SimulatedClock
from core.errors import (
    AccountSuspended,
    AuthenticationFailed,
    DeniedError,
    ExchangeProtocolError,
    ExchangeUnavailable,
    NotSupported,
    UnknownSymbol,
)
from core.events import (
    BookDelta,
    FundingEvent,
    GapEvent,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from exchanges.feeds.live import (
    FeedGaveUp,
    LiveFeed,
    LiveFeedConfig,
    backoff_delay,
    map_feed_error,
)

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "ccxt"
START_NS = 1_800_000_000_000_000_000


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a test tried to reach the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# -- TEST SCAFFOLDING: minimal ccxt market dicts (hand-written, not recorded) ------------
# The real classes need markets to parse; these carry only the fields the fixture
# methods read. The responses they parse are ccxt's own recorded ones.


def scaffold_market(symbol: str, market_id: str) -> dict[str, Any]:
    base, rest = symbol.split("/")
    quote, _, settle = rest.partition(":")
    swap = bool(settle)
    return {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle or None,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle or None,
        "type": "swap" if swap else "spot",
        "spot": not swap,
        "swap": swap,
        "future": False,
        "option": False,
        "margin": False,
        "contract": swap,
        "linear": True if swap else None,
        "inverse": False if swap else None,
        "contractSize": 1 if swap else None,
        "active": True,
        "precision": {"amount": 1e-8, "price": 1e-8},
        "limits": {},
    }


def recorded(venue: str, method: str, *inputs: Any) -> Any:
    """Return ccxt's recorded raw HTTP response for ``method`` called with ``inputs``."""
    data = json.loads((FIXTURES / f"{venue}.json").read_text())
    for entry in data["methods"][method]:
        if list(entry["input"][: len(inputs)]) == list(inputs):
            return entry["httpResponse"]
    raise LookupError(f"no recorded {venue}.{method}{inputs}")


def real_exchange(venue: str, markets: dict[str, str], routes: dict[str, list[Any]]) -> Any:
    """Build the real ccxt async class with its HTTP layer replaced by ``routes`` (URL -> replies).

    A reply that is a ``str`` is an error body: the real class's own error handler
    turns it into its ccxt exception, as it would for a live answer.
    """
    exchange = getattr(ccxt_async, venue)({"enableRateLimit": False, "timeout_on_exit": 0})
    exchange.set_markets([scaffold_market(s, i) for s, i in markets.items()])

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        replies = routes.get(url)
        if not replies:
            raise AssertionError(f"unexpected request {method} {url}")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, str):
            exchange.handle_errors(
                400, "Bad Request", url, method, {}, reply, json.loads(reply), {}, None
            )
            exchange.handle_http_status_code(400, "Bad Request", url, method, reply)
            raise AssertionError(f"the error body {reply} raised nothing")
        return reply

    exchange.fetch = fetch
    return exchange


class RecordingSleep:
    """An injected sleep: remember the delays, let other tasks run, never wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


async def collect(
    feed: LiveFeed, done: Callable[[list[MarketEvent]], bool], limit: int = 200
) -> list[MarketEvent]:
    events: list[MarketEvent] = []
    async with aclosing(feed.events()) as stream:
        async for event in stream:
            events.append(event)
            if done(events) or len(events) >= limit:
                break
    return events


def has_all(expected: list[MarketEvent]) -> Callable[[list[MarketEvent]], bool]:
    return lambda events: all(e in events for e in expected)


# -- POLLING: real classes, recorded responses -------------------------------------------


@pytest.mark.asyncio
async def test_events_when_binance_spot_is_polled_then_recorded_responses_become_exact_events() -> (
    None
):
    routes = {
        "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=2": [
            recorded("binance", "fetchOrderBook", "BTC/USDT")
        ],
        "https://api.binance.com/api/v3/aggTrades?symbol=BTCUSDT&limit=1": [
            recorded("binance", "fetchTrades", "BTC/USDT")
        ],
        "https://api.binance.com/api/v3/ticker/24hr?symbol=BTCUSDT": [
            recorded("binance", "fetchTicker", "BTC/USDT")
        ],
    }
    exchange = real_exchange("binance", {"BTC/USDT": "BTCUSDT"}, routes)
    sleep = RecordingSleep()
    config = LiveFeedConfig(
        channels=("book", "trades", "ticker"),
        book_depth=2,
        trades_limit=1,
        trades_backfill=True,
        poll_interval_s=5,
    )
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=config,
        exchange_factory=lambda venue: exchange,
        sleep=sleep,
    )
    bids = ((D("42574.30000000"), D("0.01070000")), (D("42574.20000000"), D("0.00646000")))
    asks = ((D("42574.31000000"), D("0.00870000")), (D("42574.80000000"), D("0.00893000")))
    expected: list[MarketEvent] = [
        # the spot depth endpoint carries no timestamp: the injected clock's time is used
        BookDelta(START_NS, "binance", "BTC/USDT", bids, asks, snapshot=True, sequence=25445101),
        TopOfBook(START_NS, "binance", "BTC/USDT", *bids[0], *asks[0]),
        TradeTick(
            1710327661939 * NS_PER_MS,
            "binance",
            "BTC/USDT",
            D("73238.7"),
            D("0.00109"),
            "buy",
            "2913537567",
        ),
        TopOfBook(
            1710328245391 * NS_PER_MS,
            "binance",
            "BTC/USDT",
            D("73369.83"),
            D("6.27086"),
            D("73369.84"),
            D("0.03321"),
        ),
    ]

    events = await collect(feed, has_all(expected))

    assert all(e in events for e in expected)
    assert set(events) <= set(expected)  # repeated polls repeat snapshots, never the trade
    assert sum(isinstance(e, TradeTick) for e in events) == 1
    assert sleep.delays and set(sleep.delays) == {5.0}


@pytest.mark.asyncio
async def test_events_when_bybit_linear_is_polled_then_mark_and_index_come_from_the_ticker() -> (
    None
):
    routes = {
        "https://api.bybit.com/v5/market/orderbook?symbol=BTCUSDT&category=linear&limit=2": [
            recorded("bybit", "fetchOrderBook", "BTC/USDT:USDT")
        ],
        "https://api.bybit.com/v5/market/recent-trade?symbol=BTCUSDT&limit=1&category=linear": [
            recorded("bybit", "fetchTrades", "BTC/USDT:USDT")
        ],
        "https://api.bybit.com/v5/market/tickers?symbol=BTCUSDT&category=linear": [
            recorded("bybit", "fetchTicker", "BTC/USDT:USDT")
        ],
    }
    exchange = real_exchange("bybit", {"BTC/USDT:USDT": "BTCUSDT"}, routes)
    config = LiveFeedConfig(
        channels=("book", "trades", "ticker"), book_depth=2, trades_limit=1, trades_backfill=True
    )
    symbol = "BTC/USDT:USDT"
    feed = LiveFeed(
        [("bybit", symbol)],
        clock=SimulatedClock(START_NS),
        config=config,
        exchange_factory=lambda venue: exchange,
        sleep=RecordingSleep(),
    )
    book_ts = 1706803948569 * NS_PER_MS
    bids = ((D("42544.7"), D("172.404")), (D("42544.5"), D("88.856")))
    asks = ((D("42548"), D("108.998")), (D("42548.2"), D("75.008")))
    expected: list[MarketEvent] = [
        BookDelta(book_ts, "bybit", symbol, bids, asks, snapshot=True, sequence=None),
        TopOfBook(book_ts, "bybit", symbol, *bids[0], *asks[0]),
        TradeTick(
            1707905515968 * NS_PER_MS,
            "bybit",
            symbol,
            D("51444.40"),
            D("0.972"),
            "buy",
            "9afd1288-b444-53f8-8e40-c2f99368ad22",
        ),
        TopOfBook(
            START_NS, "bybit", symbol, D("51444.30"), D("55.841"), D("51444.40"), D("491.691")
        ),
        MarkEvent(START_NS, "bybit", symbol, mark_price=D("51444.40"), index_price=D("51469.95")),
    ]

    events = await collect(feed, has_all(expected))

    assert all(e in events for e in expected)
    assert set(events) <= set(expected)


@pytest.mark.asyncio
async def test_events_when_okx_book_levels_have_extra_fields_then_price_and_amount_are_kept() -> (
    None
):
    routes = {
        "https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=2": [
            recorded("okx", "fetchOrderBook", "BTC/USDT")
        ],
        "https://www.okx.com/api/v5/market/trades?instId=BTC-USDT&limit=1": [
            recorded("okx", "fetchTrades", "BTC/USDT")
        ],
    }
    exchange = real_exchange("okx", {"BTC/USDT": "BTC-USDT"}, routes)
    config = LiveFeedConfig(
        channels=("book", "trades"),
        book_depth=2,
        trades_limit=1,
        trades_backfill=True,
        book_top_of_book=False,
    )
    feed = LiveFeed(
        [("okx", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=config,
        exchange_factory=lambda venue: exchange,
        sleep=RecordingSleep(),
    )
    expected: list[MarketEvent] = [
        BookDelta(
            1712265035051 * NS_PER_MS,
            "okx",
            "BTC/USDT",
            ((D("67973.3"), D("0.05")), (D("67973.2"), D("0.00725939"))),
            ((D("67973.4"), D("1.40848059")), (D("67975.9"), D("0.08292002"))),
            snapshot=True,
        ),
        TradeTick(
            1710327658374 * NS_PER_MS,
            "okx",
            "BTC/USDT",
            D("73239.3"),
            D("0.0009478"),
            "sell",
            "497859870",
        ),
    ]

    events = await collect(feed, has_all(expected))

    assert set(events) == set(expected)


@pytest.mark.asyncio
async def test_events_when_bybit_funding_is_polled_then_mark_event_carries_the_forecast() -> None:
    routes = {
        "https://api.bybit.com/v5/market/tickers?symbol=BTCUSDT&category=linear": [
            recorded("bybit", "fetchFundingRate", "BTC/USDT:USDT")
        ],
    }
    exchange = real_exchange("bybit", {"BTC/USDT:USDT": "BTCUSDT"}, routes)
    feed = LiveFeed(
        [("bybit", "BTC/USDT:USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("funding",)),
        exchange_factory=lambda venue: exchange,
        sleep=RecordingSleep(),
    )

    events = await collect(feed, lambda events: len(events) >= 1)

    assert events[0] == MarkEvent(
        1730730080834 * NS_PER_MS,
        "bybit",
        "BTC/USDT:USDT",
        mark_price=D("68591.46"),
        index_price=D("68599.90"),
        funding_rate=D("0.0001"),
        next_funding_ns=1730736000000 * NS_PER_MS,
    )


@pytest.mark.asyncio
async def test_events_when_funding_is_asked_for_a_spot_market_then_only_other_channels_run() -> (
    None
):
    routes = {
        "https://api.binance.com/api/v3/aggTrades?symbol=BTCUSDT&limit=1": [
            recorded("binance", "fetchTrades", "BTC/USDT")
        ]
    }
    exchange = real_exchange("binance", {"BTC/USDT": "BTCUSDT"}, routes)
    config = LiveFeedConfig(channels=("trades", "funding"), trades_limit=1, trades_backfill=True)
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=config,
        exchange_factory=lambda venue: exchange,
        sleep=RecordingSleep(),
    )

    events = await collect(feed, lambda events: len(events) >= 1)

    assert [type(e) for e in events] == [
        TradeTick
    ]  # a funding request would have hit the URL guard


@pytest.mark.asyncio
async def test_events_when_venue_answers_invalid_symbol_then_unknown_symbol_without_retry() -> None:
    routes = {
        "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=20": [
            '{"code":-1121,"msg":"Invalid symbol."}'
        ]
    }
    exchange = real_exchange("binance", {"BTC/USDT": "BTCUSDT"}, routes)
    sleep = RecordingSleep()
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("book",)),
        exchange_factory=lambda venue: exchange,
        sleep=sleep,
    )

    with pytest.raises(UnknownSymbol, match="BTC/USDT"):
        await collect(feed, lambda events: False)
    assert sleep.delays == []


@pytest.mark.asyncio
async def test_events_when_venue_rate_limits_then_backoff_and_the_retry_succeeds() -> None:
    too_many = '{"code":-1003,"msg":"Too many requests; current limit is 6000 request weight per 1 MINUTE."}'
    book = recorded("binance", "fetchOrderBook", "BTC/USDT")
    routes = {
        "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=2": [too_many, too_many, book]
    }
    exchange = real_exchange("binance", {"BTC/USDT": "BTCUSDT"}, routes)
    sleep = RecordingSleep()
    config = LiveFeedConfig(
        channels=("book",), book_depth=2, book_top_of_book=False, poll_interval_s=9
    )
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=config,
        exchange_factory=lambda venue: exchange,
        sleep=sleep,
    )

    events = await collect(feed, lambda events: len(events) >= 1)

    assert isinstance(events[0], BookDelta) and events[0].sequence == 25445101
    assert sleep.delays[:2] == [0.5, 1.0]
    assert feed.stats.retries == 2


# -- WATCH AND FAULTS: fake exchange objects ---------------------------------------------


class Script:
    """An async method that returns (or raises) scripted outcomes, then waits like a quiet socket."""

    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.outcomes:
            await asyncio.Event().wait()
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class FakeExchange:
    """A ccxt-shaped exchange object: ``has``, ``markets``, and scripted stream methods."""

    def __init__(self, markets: dict[str, dict[str, Any]] | None = None, **methods: Script) -> None:
        self.markets = (
            markets
            if markets is not None
            else {"BTC/USDT": {"symbol": "BTC/USDT", "contract": False}}
        )
        self.has: dict[str, bool] = {}
        self.closed = 0
        for name, script in methods.items():
            setattr(self, name, script)
            camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
            self.has[camel.replace("Ohlcv", "OHLCV")] = True

    async def load_markets(self, reload: bool = False) -> Any:
        return self.markets

    async def close(self) -> None:
        self.closed += 1


def ob(
    bids: list[list[float]],
    asks: list[list[float]],
    ts: int | None = None,
    nonce: int | None = None,
) -> dict[str, Any]:
    return {"bids": bids, "asks": asks, "timestamp": ts, "nonce": nonce, "symbol": "BTC/USDT"}


def trade(
    trade_id: str | None, ts: int, price: float = 100.5, side: str | None = "sell"
) -> dict[str, Any]:
    return {
        "id": trade_id,
        "timestamp": ts,
        "price": price,
        "amount": 0.25,
        "side": side,
        "symbol": "BTC/USDT",
    }


def fake_feed(
    exchange: FakeExchange, sleep: RecordingSleep | None = None, **config: Any
) -> LiveFeed:
    return LiveFeed(
        [("fake", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(**config),
        exchange_factory=lambda venue: exchange,
        sleep=sleep or RecordingSleep(),
    )


@pytest.mark.asyncio
async def test_events_when_exchange_supports_watch_then_pushes_become_events_and_nothing_is_polled() -> (
    None
):
    polled = Script([AssertionError("polled although watch is supported")])
    exchange = FakeExchange(
        watch_order_book=Script([ob([[100.1, 2.0]], [[100.2, 0.5]], ts=1_000, nonce=7)]),
        watch_trades=Script([[trade("a", 1_001), trade("b", 1_002, side="buy")]]),
        fetch_order_book=polled,
        fetch_trades=polled,
    )
    sleep = RecordingSleep()
    feed = fake_feed(exchange, sleep, channels=("book", "trades"))

    events = await collect(feed, lambda events: len(events) >= 4)

    assert set(events) == {
        BookDelta(
            1_000 * NS_PER_MS,
            "fake",
            "BTC/USDT",
            ((D("100.1"), D("2.0")),),
            ((D("100.2"), D("0.5")),),
            True,
            7,
        ),
        TopOfBook(
            1_000 * NS_PER_MS, "fake", "BTC/USDT", D("100.1"), D("2.0"), D("100.2"), D("0.5")
        ),
        TradeTick(1_001 * NS_PER_MS, "fake", "BTC/USDT", D("100.5"), D("0.25"), "sell", "a"),
        TradeTick(1_002 * NS_PER_MS, "fake", "BTC/USDT", D("100.5"), D("0.25"), "buy", "b"),
    }
    assert polled.calls == 0 and sleep.delays == []
    assert exchange.closed == 1


@pytest.mark.asyncio
async def test_events_when_prefer_watch_is_off_then_the_fetch_methods_are_polled() -> None:
    exchange = FakeExchange(
        watch_order_book=Script([AssertionError("watched although polling was asked for")]),
        fetch_order_book=Script([ob([[1, 1]], [[2, 1]])]),
    )
    feed = fake_feed(exchange, channels=("book",), prefer_watch=False, book_top_of_book=False)

    events = await collect(feed, lambda events: len(events) >= 1)

    assert isinstance(events[0], BookDelta) and events[0].ts_ns == START_NS


@pytest.mark.asyncio
async def test_events_when_network_fails_three_times_then_backoff_doubles_and_stream_recovers() -> (
    None
):
    book = Script(
        [
            ccxt.NetworkError("reset"),
            ccxt.RequestTimeout("slow"),
            ccxt.ExchangeNotAvailable("503"),
            ob([[1, 1]], [[2, 1]]),
        ]
    )
    sleep = RecordingSleep()
    feed = fake_feed(
        FakeExchange(watch_order_book=book), sleep, channels=("book",), book_top_of_book=False
    )

    events = await collect(feed, lambda events: len(events) >= 1)

    assert [type(e) for e in events] == [BookDelta]
    assert sleep.delays == [0.5, 1.0, 2.0]
    assert (feed.stats.errors, feed.stats.retries) == (3, 3)


@pytest.mark.asyncio
async def test_events_when_errors_never_stop_then_feed_gave_up_after_the_limit_with_capped_backoff() -> (
    None
):
    book = Script([ccxt.NetworkError(f"down {i}") for i in range(20)])
    sleep = RecordingSleep()
    exchange = FakeExchange(watch_order_book=book)
    feed = fake_feed(
        exchange,
        sleep,
        channels=("book",),
        max_consecutive_errors=6,
        backoff_initial_s=1,
        backoff_max_s=4,
    )

    with pytest.raises(
        FeedGaveUp, match="fake BTC/USDT book: gave up after 6 consecutive errors"
    ) as caught:
        await collect(feed, lambda events: False)

    assert sleep.delays == [1, 2, 4, 4, 4]
    assert book.calls == 6
    assert isinstance(caught.value.last, ExchangeUnavailable)
    assert isinstance(caught.value.__cause__, ccxt.NetworkError)
    assert exchange.closed == 1


@pytest.mark.asyncio
async def test_events_when_a_success_comes_between_errors_then_the_error_count_restarts() -> None:
    outcomes: list[Any] = []
    for _ in range(3):
        outcomes += [ccxt.NetworkError("x"), ccxt.NetworkError("y"), ob([[1, 1]], [[2, 1]])]
    sleep = RecordingSleep()
    feed = fake_feed(
        FakeExchange(watch_order_book=Script(outcomes)),
        sleep,
        channels=("book",),
        book_top_of_book=False,
        max_consecutive_errors=3,
    )

    events = await collect(feed, lambda events: len(events) >= 3)

    assert len(events) == 3
    assert sleep.delays == [0.5, 1.0] * 3


@pytest.mark.asyncio
async def test_events_when_book_checksum_fails_then_gap_event_and_next_snapshot_resyncs() -> None:
    book = Script([ccxt.ChecksumError("crc mismatch"), ob([[1, 1]], [[2, 1]], ts=5)])
    feed = fake_feed(
        FakeExchange(watch_order_book=book), channels=("book",), book_top_of_book=False
    )

    events = await collect(feed, lambda events: len(events) >= 2)

    assert isinstance(events[0], GapEvent) and "ChecksumError" in events[0].reason
    assert isinstance(events[1], BookDelta) and events[1].snapshot
    assert feed.stats.gaps == 1


@pytest.mark.asyncio
async def test_events_when_venue_sends_a_negative_amount_then_exchange_protocol_error() -> None:
    book = Script([ob([[100.0, -1.0]], [[101.0, 1.0]])])
    feed = fake_feed(FakeExchange(watch_order_book=book), channels=("book",))

    with pytest.raises(ExchangeProtocolError, match=r"fake BTC/USDT book: bids: bad level"):
        await collect(feed, lambda events: False)


@pytest.mark.asyncio
async def test_events_when_symbol_is_not_listed_then_unknown_symbol_before_any_stream() -> None:
    exchange = FakeExchange(markets={}, watch_order_book=Script([]))

    with pytest.raises(UnknownSymbol, match="not a market of venue 'fake'"):
        await collect(fake_feed(exchange, channels=("book",)), lambda events: False)
    assert exchange.watch_order_book.calls == 0  # type: ignore[attr-defined]
    assert exchange.closed == 1


@pytest.mark.asyncio
async def test_events_when_no_channel_is_supported_then_not_supported() -> None:
    with pytest.raises(NotSupported):
        await collect(fake_feed(FakeExchange(), channels=("book", "trades")), lambda events: False)


@pytest.mark.asyncio
async def test_trades_when_polled_repeatedly_then_first_poll_primes_and_each_trade_comes_once() -> (
    None
):
    trades = Script(
        [
            [trade("1", 10), trade("2", 11)],
            [trade("1", 10), trade("2", 11), trade("3", 12)],
            [trade("2", 11), trade("3", 12), trade("4", 13, side=None), trade("5", 14)],
        ]
    )
    feed = fake_feed(FakeExchange(fetch_trades=trades), channels=("trades",))

    events = await collect(feed, lambda events: len(events) >= 2)

    assert [e.trade_id for e in events if isinstance(e, TradeTick)] == ["3", "5"]
    assert feed.stats.trades_without_side == 1


@pytest.mark.asyncio
async def test_trades_when_ids_are_missing_then_only_newer_timestamps_pass() -> None:
    trades = Script(
        [[trade(None, 10)], [trade(None, 10), trade(None, 12)], [trade(None, 12), trade(None, 13)]]
    )
    feed = fake_feed(FakeExchange(fetch_trades=trades), channels=("trades",), trades_backfill=True)

    events = await collect(feed, lambda events: len(events) >= 3)

    assert [e.ts_ns // NS_PER_MS for e in events] == [10, 12, 13]


PERP = {"BTC/USDT:USDT": {"symbol": "BTC/USDT:USDT", "contract": True}}
H8 = 8 * 3600 * 1000
F1 = 1_730_736_000_000


def rate(next_ms: int, funding: float, ts: int) -> dict[str, Any]:
    return {
        "symbol": "BTC/USDT:USDT",
        "timestamp": ts,
        "markPrice": 68000.5,
        "indexPrice": 68001.0,
        "fundingRate": funding,
        "fundingTimestamp": next_ms,
        "interval": None,
    }


@pytest.mark.asyncio
async def test_funding_when_next_time_rolls_then_settled_rate_comes_from_history_not_forecast() -> (
    None
):
    history = Script(
        [[{"timestamp": F1 - H8, "fundingRate": 0.0003}, {"timestamp": F1, "fundingRate": 0.00015}]]
    )
    exchange = FakeExchange(
        markets=PERP,
        fetch_funding_rate=Script(
            [rate(F1, 0.0001, F1 - 60_000), rate(F1 + H8, 0.0002, F1 + 5_000)]
        ),
        fetch_funding_rate_history=history,
    )
    feed = LiveFeed(
        [("fake", "BTC/USDT:USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("funding",)),
        exchange_factory=lambda venue: exchange,
        sleep=RecordingSleep(),
    )

    events = await collect(feed, lambda events: any(isinstance(e, FundingEvent) for e in events))

    assert events[-1] == FundingEvent(F1 * NS_PER_MS, "fake", "BTC/USDT:USDT", D("0.00015"), D(8))
    assert [e.funding_rate for e in events if isinstance(e, MarkEvent)] == [
        D("0.0001"),
        D("0.0002"),
    ]
    assert history.calls == 1


@pytest.mark.asyncio
async def test_funding_when_venue_has_no_history_then_settlement_is_counted_missed_not_guessed() -> (
    None
):
    exchange = FakeExchange(
        markets=PERP, fetch_funding_rate=Script([rate(F1, 0.0001, 1), rate(F1 + H8, 0.0002, 2)])
    )
    feed = LiveFeed(
        [("fake", "BTC/USDT:USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("funding",)),
        exchange_factory=lambda venue: exchange,
        sleep=RecordingSleep(),
    )

    events = await collect(feed, lambda events: len(events) >= 2)

    assert [type(e) for e in events] == [MarkEvent, MarkEvent]
    assert feed.stats.funding_settlements_missed == 1


# -- BOUNDS AND LIFECYCLE ----------------------------------------------------------------


class EndlessTrades:
    """watch_trades pushing one new trade per call, forever."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, symbol: str) -> list[dict[str, Any]]:
        self.calls += 1
        await asyncio.sleep(0)
        return [trade(str(self.calls), self.calls)]


@pytest.mark.asyncio
async def test_events_when_consumer_is_slow_then_queue_stays_bounded_and_nothing_is_dropped() -> (
    None
):
    pushes = EndlessTrades()
    exchange = FakeExchange()
    exchange.watch_trades = pushes  # type: ignore[attr-defined]
    exchange.has["watchTrades"] = True
    feed = fake_feed(exchange, channels=("trades",), queue_size=5)
    stream = feed.events()

    first = await anext(stream)
    for _ in range(100):
        await asyncio.sleep(0)
    calls_while_stalled = pushes.calls
    rest = [await anext(stream) for _ in range(30)]
    await stream.aclose()

    assert calls_while_stalled <= 5 + 2  # the queue, one put waiting, one call in flight
    ids = [int(e.trade_id or 0) for e in [first, *rest] if isinstance(e, TradeTick)]
    assert ids == list(range(1, 32))
    assert exchange.closed == 1


@pytest.mark.asyncio
async def test_close_when_called_from_another_task_then_iteration_ends_and_exchanges_close() -> (
    None
):
    exchange = FakeExchange(watch_order_book=Script([ob([[1, 1]], [[2, 1]])]))
    feed = fake_feed(exchange, channels=("book",))
    received: list[MarketEvent] = []

    async def consume() -> None:
        async for event in feed.events():
            received.append(event)

    consumer = asyncio.create_task(consume())
    while len(received) < 2:
        await asyncio.sleep(0)
    await feed.close()
    await asyncio.wait_for(consumer, timeout=5)

    assert exchange.closed == 1
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("feed ")] == []


@pytest.mark.asyncio
async def test_events_when_called_twice_then_refused() -> None:
    feed = fake_feed(
        FakeExchange(watch_order_book=Script([ob([[1, 1]], [[2, 1]])])), channels=("book",)
    )
    stream: AsyncIterator[MarketEvent] = feed.events()
    await anext(stream)
    with pytest.raises(ValueError, match="iterated once"):
        await anext(feed.events())
    await feed.close()


# -- WHAT THE FEED DOES WITH EACH KIND OF ERROR ---------------------------------------------
# The ccxt -> core table itself belongs to (and is tested with) exchanges.ccxt_errors.


@pytest.mark.parametrize(
    "raised",
    [
        ccxt.NetworkError("reset"),
        ccxt.RateLimitExceeded("429"),
        ccxt.DDoSProtection("cloudflare"),
        ccxt.RequestTimeout("slow"),
        ccxt.ExchangeNotAvailable("503"),
        ccxt.OnMaintenance("maintenance"),
        ConnectionResetError("peer reset"),
        TimeoutError(),
    ],
)
@pytest.mark.asyncio
async def test_events_when_a_temporary_error_happens_then_retried_after_backoff(
    raised: BaseException,
) -> None:
    sleep = RecordingSleep()
    book = Script([raised, ob([[1, 1]], [[2, 1]])])
    feed = fake_feed(
        FakeExchange(watch_order_book=book), sleep, channels=("book",), book_top_of_book=False
    )

    events = await collect(feed, lambda events: len(events) >= 1)

    assert [type(e) for e in events] == [BookDelta]
    assert sleep.delays == [0.5]


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.BadSymbol("no such market"), UnknownSymbol),
        (ccxt.AuthenticationError("key required"), AuthenticationFailed),
        (ccxt.AccountSuspended("frozen"), AccountSuspended),
        (ccxt.NotSupported("no public trades"), NotSupported),
        (ccxt.BadRequest("bad parameter"), DeniedError),
    ],
)
@pytest.mark.asyncio
async def test_events_when_a_permanent_error_happens_then_feed_raises_the_core_error_at_once(
    raised: BaseException, expected: type[Exception]
) -> None:
    sleep = RecordingSleep()
    feed = fake_feed(FakeExchange(watch_order_book=Script([raised])), sleep, channels=("book",))

    with pytest.raises(expected) as caught:
        await collect(feed, lambda events: False)

    assert type(caught.value) is expected
    assert "BTC/USDT" in str(caught.value) and "fake" in str(caught.value)
    assert sleep.delays == []


@pytest.mark.asyncio
async def test_events_when_an_exception_is_a_bug_not_a_venue_error_then_it_surfaces_unchanged() -> (
    None
):
    feed = fake_feed(FakeExchange(watch_order_book=Script([KeyError("oops")])), channels=("book",))

    with pytest.raises(KeyError, match="oops"):
        await collect(feed, lambda events: False)


def test_map_feed_error_when_ccxt_echoes_a_signature_then_it_is_redacted() -> None:
    raised = ccxt.NetworkError("GET https://api.example/x?symbol=BTCUSDT&signature=abcdef0123")

    error = map_feed_error(raised, venue="binance", symbol="BTC/USDT", what="trades")

    assert isinstance(error, ExchangeUnavailable)
    assert "abcdef0123" not in str(error) and "binance BTC/USDT trades" in str(error)


def test_backoff_delay_when_attempts_grow_then_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(10_000, 0.5, 30.0) == 30.0


def test_network_guard_when_a_test_connects_then_it_fails() -> None:
    with pytest.raises(AssertionError, match="network"):
        socket.create_connection(("api.binance.com", 443))
