"""LiveFeed, offline: venue errors, retries with backoff, gaps, giving up, bad input.

Real ccxt classes parse recorded error bodies; fakes script the faults. No test opens
a socket: the ccxt network method is stubbed and an autouse guard makes every connect
attempt raise (live_support.py).
"""

from __future__ import annotations

import socket
from typing import Any

import ccxt
import pytest

from core.clock import SimulatedClock
from core.errors import (
    AccountSuspended,
    AuthenticationFailed,
    DeniedError,
    ExchangeProtocolError,
    ExchangeUnavailable,
    NotSupported,
    UnknownSymbol,
)
from core.events import BookDelta, GapEvent
from exchanges.feeds.live import (
    FeedGaveUp,
    LiveFeed,
    LiveFeedConfig,
    backoff_delay,
    map_feed_error,
)
from tests.unit.exchanges.feeds.live_support import (
    START_NS,
    FakeExchange,
    RecordingSleep,
    Script,
    collect,
    fake_feed,
    ob,
    real_exchange,
    recorded,
    refuse_network,
)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_network(monkeypatch)


# -- POLLING: real classes, recorded error answers ---------------------------------------


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


# -- FAULTS: fake exchange objects -------------------------------------------------------


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


# -- WHAT THE FEED DOES WITH EACH KIND OF ERROR ------------------------------------------
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
