"""LiveFeed, offline: the events it makes from polls and pushes, and its lifecycle.

Real ccxt classes parse recorded HTTP responses; fakes stand in for watch methods. No
test opens a socket: the ccxt network method is stubbed (an unexpected URL fails the
test) and an autouse guard makes every connect attempt raise (live_support.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest

from core.clock import NS_PER_MS, SimulatedClock
from core.events import (
    BookDelta,
    FundingEvent,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from exchanges.feeds.live import LiveFeed, LiveFeedConfig
from tests.unit.exchanges.feeds.live_support import (
    START_NS,
    FakeExchange,
    RecordingSleep,
    Script,
    collect,
    fake_feed,
    has_all,
    ob,
    real_exchange,
    recorded,
    refuse_network,
    trade,
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_network(monkeypatch)


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


# -- WATCH: fake exchange objects --------------------------------------------------------


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


# -- TRADES AND FUNDING ------------------------------------------------------------------


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
