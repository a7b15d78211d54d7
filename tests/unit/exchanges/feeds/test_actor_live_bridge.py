"""The sync bridge over a LiveFeed: order, backpressure, close, errors; paper markets; subscriptions.

Offline: the LiveFeed tests' fake exchange (scripted watch methods) and the real ccxt
binance class over recorded responses (live_support.py); an autouse guard refuses sockets.
No assertion depends on timing: waits poll a condition under a generous deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from core.clock import NS_PER_MS, SimulatedClock
from core.config import SwarmConfig, load_config
from core.errors import AuthenticationFailed, ConfigError, InvalidValue, UnknownSymbol
from core.events import BookDelta, MarketEvent, TopOfBook, TradeTick
from exchanges.feeds.bridge import EventCounts, LiveBridge, NoPaperMarket, check_paper_markets
from exchanges.feeds.live import LiveFeed, LiveFeedConfig
from exchanges.feeds.subscriptions import agent_markets, live_subscriptions
from tests.unit.exchanges.feeds.live_support import (
    START_NS,
    FakeExchange,
    Script,
    ob,
    real_exchange,
    recorded,
    refuse_network,
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_network(monkeypatch)


def wait_for(condition: Callable[[], bool], deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.005)


def books(count: int) -> list[dict[str, Any]]:
    return [ob([[100.0 + i, 1.0]], [[101.0 + i, 2.0]], ts=1_000 + i) for i in range(count)]


def expected_events(count: int) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    for i in range(count):
        ts = (1_000 + i) * NS_PER_MS
        bid, ask = (D(100 + i), D(1)), (D(101 + i), D(2))
        out.append(BookDelta(ts, "fake", "BTC/USDT", (bid,), (ask,), True, None))
        out.append(TopOfBook(ts, "fake", "BTC/USDT", *bid, *ask))
    return out


def bridge_over(exchange: FakeExchange, *, queue_size: int, feed_queue: int = 10_000) -> LiveBridge:
    feed = LiveFeed(
        [("fake", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("book",), queue_size=feed_queue),
        exchange_factory=lambda venue: exchange,
    )
    return LiveBridge(feed, queue_size=queue_size)


def take(bridge: LiveBridge, count: int, max_events: int) -> list[list[MarketEvent]]:
    batches: list[list[MarketEvent]] = []
    end = time.monotonic() + 30
    while sum(map(len, batches)) < count:
        assert time.monotonic() < end, "events missing"
        batch = bridge.next_batch(max_events, 0.01, 0.05)
        assert batch is not None
        if batch:
            batches.append(batch)
    return batches


# -- THE BRIDGE ---------------------------------------------------------------------------


def test_next_batch_when_many_events_through_small_queues_then_all_in_order_and_bounded() -> None:
    exchange = FakeExchange(watch_order_book=Script(books(300)))
    bridge = bridge_over(exchange, queue_size=5, feed_queue=3)
    bridge.start()
    try:
        batches = take(bridge, 600, max_events=7)
    finally:
        assert bridge.close()
    assert [e for batch in batches for e in batch] == expected_events(300)
    assert all(1 <= len(batch) <= 7 for batch in batches)
    assert bridge.max_depth <= 5
    assert bridge.delivered == 600
    assert exchange.closed == 1


def test_pump_when_consumer_does_not_read_then_it_waits_at_the_bound_and_loses_nothing() -> None:
    exchange = FakeExchange(watch_order_book=Script(books(50)))
    bridge = bridge_over(exchange, queue_size=4, feed_queue=2)
    bridge.start()
    try:
        wait_for(lambda: bridge.stats()["queue_depth"] == 4 and bridge.full_waits > 0)
        assert bridge.stats()["queue_depth"] == 4  # still bounded while the feed has more
        batches = take(bridge, 100, max_events=64)
    finally:
        assert bridge.close()
    assert [e for batch in batches for e in batch] == expected_events(50)
    assert bridge.max_depth == 4


def test_close_when_feed_is_quiet_then_thread_ends_and_exchange_is_closed() -> None:
    exchange = FakeExchange(watch_order_book=Script(books(1)))
    bridge = bridge_over(exchange, queue_size=10)
    bridge.start()
    batches = take(bridge, 2, max_events=10)
    assert bridge.next_batch(10, 0.0, 0.01) == []  # quiet: nothing more, no end either

    assert bridge.close(timeout_s=10)
    assert exchange.closed == 1
    assert bridge.close(timeout_s=10)  # a second close is harmless
    assert [e for batch in batches for e in batch] == expected_events(1)


def test_close_when_pump_is_blocked_on_a_full_queue_then_thread_ends() -> None:
    exchange = FakeExchange(watch_order_book=Script(books(100)))
    bridge = bridge_over(exchange, queue_size=2)
    bridge.start()
    wait_for(lambda: bridge.full_waits > 0)

    assert bridge.close(timeout_s=10)
    assert exchange.closed == 1


def test_close_when_never_started_then_nothing_to_join() -> None:
    bridge = bridge_over(FakeExchange(), queue_size=2)
    assert bridge.close()


def test_next_batch_when_feed_fails_then_events_before_come_first_then_the_error() -> None:
    denied = AuthenticationFailed("fake: the key was refused")
    exchange = FakeExchange(watch_order_book=Script([*books(2), denied]))
    bridge = bridge_over(exchange, queue_size=10)
    bridge.start()
    events: list[MarketEvent] = []
    try:
        with pytest.raises(AuthenticationFailed) as raised:
            end = time.monotonic() + 30
            while time.monotonic() < end:
                batch = bridge.next_batch(100, 0.01, 0.05)
                assert batch is not None
                events.extend(batch)
    finally:
        assert bridge.close()
    assert raised.value is denied
    assert events == expected_events(2)
    assert bridge.ended
    with pytest.raises(AuthenticationFailed):
        bridge.next_batch(100, 0.0, 0.0)  # and again: the end is sticky


def test_start_when_called_twice_then_refused() -> None:
    bridge = bridge_over(FakeExchange(watch_order_book=Script([])), queue_size=2)
    bridge.start()
    try:
        with pytest.raises(InvalidValue, match="start"):
            bridge.start()
    finally:
        assert bridge.close()


def test_bridge_when_real_binance_class_polls_recorded_responses_then_book_trade_and_ticker() -> (
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
    config = LiveFeedConfig(
        channels=("book", "trades", "ticker"),
        book_depth=2,
        trades_limit=1,
        trades_backfill=True,
        poll_interval_s=0.01,
    )
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=config,
        exchange_factory=lambda venue: real_exchange("binance", {"BTC/USDT": "BTCUSDT"}, routes),
    )
    bridge = LiveBridge(feed, queue_size=100)
    bridge.start()
    seen: list[MarketEvent] = []
    try:
        end = time.monotonic() + 30
        while not (
            any(isinstance(e, TradeTick) for e in seen)
            and sum(isinstance(e, BookDelta) for e in seen) >= 2
            and any(isinstance(e, TopOfBook) and e.ts_ns != START_NS for e in seen)
        ):
            assert time.monotonic() < end, seen
            batch = bridge.next_batch(50, 0.01, 0.05)
            assert batch is not None
            seen.extend(batch)
    finally:
        assert bridge.close()
    trades = [e for e in seen if isinstance(e, TradeTick)]
    assert trades == [
        TradeTick(
            1710327661939 * NS_PER_MS,
            "binance",
            "BTC/USDT",
            D("73238.7"),
            D("0.00109"),
            "buy",
            "2913537567",
        )
    ]  # repeated polls repeat the book, never the trade
    book = next(e for e in seen if isinstance(e, BookDelta))
    assert book.bids[0] == (D("42574.30000000"), D("0.01070000"))


# -- COUNTS, PAPER MARKETS, SUBSCRIPTIONS -------------------------------------------------------


def test_counts_when_events_of_each_kind_then_named_like_the_replay_stats() -> None:
    counts = EventCounts()
    counts.add(expected_events(3))
    counts.add([TradeTick(1, "fake", "BTC/USDT", D(1), D(1), "buy", "t")])
    assert counts.as_dict() == {
        "book_deltas": 3,
        "books": 3,
        "top_of_book": 3,
        "trades": 1,
        "bars": 0,
        "funding_events": 0,
        "marks": 0,
        "liquidations": 0,
        "gaps": 0,
        "events": 7,
    }


def test_check_paper_markets_when_all_listed_then_deduplicated_in_order() -> None:
    pairs = [("bybit", "BTC/USDT:USDT"), ("binance", "BTC/USDT"), ("bybit", "BTC/USDT:USDT")]
    assert check_paper_markets(pairs) == (("bybit", "BTC/USDT:USDT"), ("binance", "BTC/USDT"))


def test_check_paper_markets_when_symbol_not_listed_then_error_names_venue_and_symbol() -> None:
    with pytest.raises(NoPaperMarket) as raised:
        check_paper_markets([("binance", "BTC/USDT"), ("okx", "DOGE/USDT")])
    assert isinstance(raised.value, UnknownSymbol)
    assert raised.value.venue == "okx"
    assert raised.value.value == "DOGE/USDT"
    assert "'okx'" in str(raised.value) and "DOGE/USDT" in str(raised.value)
    assert "BTC/USDT:USDT" in str(raised.value)  # the markets it does have


def test_check_paper_markets_when_venue_has_no_paper_rules_then_error_names_it() -> None:
    with pytest.raises(InvalidValue) as raised:
        check_paper_markets([("kraken", "BTC/USD")])
    assert raised.value.field == "venue" and raised.value.value == "kraken"


def test_check_paper_markets_when_empty_then_refused() -> None:
    with pytest.raises(InvalidValue, match="subscriptions"):
        check_paper_markets([])


def test_live_subscriptions_when_paper_config_then_the_agents_markets_all_paper_listed() -> None:
    config = load_config("configs/paper.toml", SwarmConfig)
    enabled = {name: spec for name, spec in config.agents.items() if spec.enabled}

    pairs = live_subscriptions(enabled)

    assert pairs[0] == ("bybit", "BTC/USDT:USDT")  # mm and liq-hunter: one market, once
    assert pairs.count(("bybit", "BTC/USDT:USDT")) == 1
    assert set(pairs) == {  # funding-arb's default venues: perps and spots
        (venue, symbol)
        for venue in ("binance", "bybit")
        for symbol in ("BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT", "ETH/USDT")
    } | {("hyperliquid", "BTC/USDC:USDC"), ("hyperliquid", "ETH/USDC:USDC")}
    assert check_paper_markets(pairs) == tuple(pairs)


def test_agent_markets_when_bad_config_or_kind_then_typed_errors() -> None:
    with pytest.raises(ConfigError):
        agent_markets("liquidation_hunter", {"agent_id": "x", "venue": "bybit"})
    with pytest.raises(InvalidValue, match="kind"):
        agent_markets("oracle", {})
