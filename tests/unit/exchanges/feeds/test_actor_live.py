"""The feed actor's live source, without Ray: recording venues, agents, gateway and council.

``FeedActor`` is a plain class; its ``run`` only calls ``push``/``drain`` on the venue and
agent facades, ``mark`` on the gateway and ``tick`` on the council, so recording stand-ins
see exactly what the Ray actors would. The exchange is the LiveFeed tests' fake
(live_support.py); an autouse guard refuses sockets. Waits poll a condition under a
generous deadline; no assertion depends on timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal as D
from typing import Any

import pytest

from core.clock import NS_PER_MS
from core.errors import AuthenticationFailed, InvalidValue
from core.events import BookDelta, MarketEvent, TopOfBook
from exchanges.feeds.actor import FeedActor
from exchanges.feeds.bridge import NoPaperMarket
from exchanges.feeds.live import LiveFeedConfig
from tests.unit.exchanges.feeds.live_support import FakeExchange, Script, ob, refuse_network

SYMBOL = "BTC/USDT:USDT"
MARKETS = {SYMBOL: {"symbol": SYMBOL, "contract": False}}  # no funding stream: book only


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_network(monkeypatch)


class Recorder:
    """Stands for a ``VenueClient``/``EventPusher``: remembers each batch pushed."""

    def __init__(self) -> None:
        self.batches: list[list[MarketEvent]] = []
        self.drained = 0

    def push(self, events: Sequence[MarketEvent], max_in_flight: int) -> list[list[MarketEvent]]:
        self.batches.append(list(events))
        return []

    def drain(self) -> list[list[MarketEvent]]:
        self.drained += 1
        return []

    def events(self) -> list[MarketEvent]:
        return [e for batch in self.batches for e in batch]


class Gateway:
    def __init__(self) -> None:
        self.marks: list[dict[tuple[str, str], D]] = []

    def mark(self, prices: dict[tuple[str, str], D], ts_ns: int | None = None) -> None:
        self.marks.append(dict(prices))


class Council:
    def __init__(self) -> None:
        self.ticks: list[int] = []
        self.quoted: list[int | None] = []

    def tick(self, ts_ns: int, quoted_ns: int | None = None) -> None:
        self.ticks.append(ts_ns)
        self.quoted.append(quoted_ns)


def books(venue: str, count: int, first_ms: int = 1_000) -> list[dict[str, Any]]:
    return [ob([[100.0 + i, 1.0]], [[101.0 + i, 2.0]], ts=first_ms + i) for i in range(count)]


def expected(venue: str, count: int, first_ms: int = 1_000) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    for i in range(count):
        ts = (first_ms + i) * NS_PER_MS
        bid, ask = (D(100 + i), D(1)), (D(101 + i), D(2))
        out.append(BookDelta(ts, venue, SYMBOL, (bid,), (ask,), True, None))
        out.append(TopOfBook(ts, venue, SYMBOL, *bid, *ask))
    return out


def live_actor(exchanges: dict[str, FakeExchange], **kwargs: Any) -> FeedActor:
    options: dict[str, Any] = dict(
        speed=None,
        batch_size=5,
        max_in_flight=2,
        source="live",
        subscriptions=[(venue, SYMBOL) for venue in exchanges],
        live=LiveFeedConfig(channels=("book",)),
        batch_window_s=0.01,
        poll_s=0.02,
        exchange_factory=lambda venue: exchanges[venue],
    )
    options.update(kwargs)
    return FeedActor(None, **options)


def run_in_thread(actor: FeedActor, *args: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(actor.run(*args))
        except BaseException as exc:  # handed to the test
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result


def wait_for(condition: Callable[[], bool], deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.005)


# -- PUSHING -------------------------------------------------------------------------------


def test_run_when_live_events_then_pushed_like_replay_batches_in_order_and_stop_ends_it() -> None:
    exchanges = {
        "binance": FakeExchange(MARKETS, watch_order_book=Script(books("binance", 20))),
        "bybit": FakeExchange(MARKETS, watch_order_book=Script(books("bybit", 20, 5_000))),
    }
    actor = live_actor(exchanges)
    venues = {"binance": Recorder(), "bybit": Recorder(), "okx": Recorder()}
    agent, gateway, council = Recorder(), Gateway(), Council()

    thread, result = run_in_thread(actor, venues, {"a": agent}, gateway, council)
    wait_for(lambda: actor.progress()["events"] == 80)
    assert actor.progress()["done"] is False  # live data has no end: it waits for more
    actor.stop()
    thread.join(30)

    assert not thread.is_alive()
    summary = result[0]
    assert summary["stopped_by"] == "stop"
    assert summary["source"] == "live" and summary["events"] == 80
    assert summary["subscriptions"] == [["binance", SYMBOL], ["bybit", SYMBOL]]
    assert summary["feed"]["book_deltas"] == 40 and summary["feed"]["top_of_book"] == 40
    # each venue saw its own events, all of them, in order; the other venue nothing
    assert venues["binance"].events() == expected("binance", 20)
    assert venues["bybit"].events() == expected("bybit", 20, 5_000)
    assert venues["okx"].batches == [] and all(v.drained == 1 for v in venues.values())
    # the agents saw every event, each batch ordered by time and at most batch_size long
    seen = agent.events()
    assert sorted(seen, key=repr) == sorted(
        expected("binance", 20) + expected("bybit", 20, 5_000), key=repr
    )
    assert all(
        len(b) <= 5 and [e.ts_ns for e in b] == sorted(e.ts_ns for e in b) for b in agent.batches
    )
    assert agent.drained == 1
    # the gateway was marked at the mids; the council ticked on market time, never backwards
    assert gateway.marks and all(p for p in gateway.marks)
    assert {("binance", SYMBOL): D("119.5")} in [
        {k: v for k, v in m.items() if k[0] == "binance"} for m in gateway.marks
    ]
    assert council.ticks == sorted(council.ticks)
    assert council.ticks[-1] == 5_019 * NS_PER_MS
    assert actor.progress()["market_time_ns"] == 5_019 * NS_PER_MS
    assert all(e.closed == 1 for e in exchanges.values())
    assert actor.run(venues, {"a": agent}, gateway, council) is summary  # no second subscription


def test_run_when_duration_passes_on_a_quiet_feed_then_it_ends_by_itself() -> None:
    exchange = FakeExchange(MARKETS, watch_order_book=Script(books("binance", 3)))
    actor = live_actor({"binance": exchange}, duration_s=0.5)
    venue = Recorder()

    thread, result = run_in_thread(actor, {"binance": venue})
    thread.join(30)

    assert not thread.is_alive()
    assert result[0]["stopped_by"] == "duration"
    assert venue.events() == expected("binance", 3)  # what came before the end was pushed
    assert exchange.closed == 1


def test_run_when_stopped_before_any_event_then_returns_with_nothing_pushed() -> None:
    exchange = FakeExchange(MARKETS, watch_order_book=Script([]))
    actor = live_actor({"binance": exchange})
    actor.stop()

    summary = actor.run({"binance": Recorder()})

    assert summary["stopped_by"] == "stop" and summary["events"] == 0


def test_run_when_feed_fails_then_events_before_are_pushed_and_run_raises_it() -> None:
    denied = AuthenticationFailed("binance: key refused")
    exchange = FakeExchange(MARKETS, watch_order_book=Script([*books("binance", 2), denied]))
    actor = live_actor({"binance": exchange})
    venue = Recorder()

    with pytest.raises(AuthenticationFailed):
        actor.run({"binance": venue})

    assert venue.events() == expected("binance", 2)
    assert exchange.closed == 1
    assert actor.progress()["done"] is False


def test_progress_when_live_then_counts_and_bridge_stats() -> None:
    exchange = FakeExchange(MARKETS, watch_order_book=Script(books("binance", 4)))
    actor = live_actor({"binance": exchange})
    assert actor.progress()["feed"]["events"] == 0 and actor.files() == []

    thread, _ = run_in_thread(actor, {"binance": Recorder()})
    wait_for(lambda: actor.progress()["events"] == 8)
    progress = actor.progress()
    actor.stop()
    thread.join(30)

    assert progress["source"] == "live"
    assert progress["feed"]["book_deltas"] == 4 and progress["feed"]["books"] == 4
    assert progress["feed"]["bridge"]["delivered"] == 8
    assert progress["feed"]["errors"] == 0


# -- REFUSALS -------------------------------------------------------------------------------


def test_init_when_live_and_lockstep_then_refused_naming_the_option() -> None:
    with pytest.raises(InvalidValue) as raised:
        live_actor({"binance": FakeExchange(MARKETS)}, lockstep=True)
    assert raised.value.field == "lockstep"


def test_init_when_live_and_a_replay_speed_then_refused_naming_the_option() -> None:
    with pytest.raises(InvalidValue) as raised:
        live_actor({"binance": FakeExchange(MARKETS)}, speed=60.0)
    assert raised.value.field == "speed"


def test_init_when_live_symbol_has_no_paper_market_then_error_names_venue_and_symbol() -> None:
    with pytest.raises(NoPaperMarket) as raised:
        live_actor({"binance": FakeExchange(MARKETS)}, subscriptions=[("binance", "PEPE/USDT")])
    assert raised.value.venue == "binance" and raised.value.value == "PEPE/USDT"


def test_init_when_live_venue_not_a_paper_venue_of_the_run_then_refused() -> None:
    with pytest.raises(InvalidValue) as raised:
        live_actor({"okx": FakeExchange(MARKETS)}, venues=("binance", "bybit"))
    assert raised.value.field == "subscriptions" and raised.value.value == ("okx", SYMBOL)


def test_run_when_subscribed_venue_has_no_venue_actor_then_refused_before_subscribing() -> None:
    exchange = FakeExchange(MARKETS, watch_order_book=Script(books("binance", 1)))
    actor = live_actor({"binance": exchange})

    with pytest.raises(InvalidValue, match="no venue:binance actor"):
        actor.run({"bybit": Recorder()})
    assert exchange.closed == 0  # never opened


def test_init_when_no_subscription_or_replay_without_data_then_refused() -> None:
    with pytest.raises(InvalidValue, match="subscriptions"):
        live_actor({}, subscriptions=[])
    with pytest.raises(InvalidValue, match="data_dir"):
        FeedActor(None, speed=None, batch_size=5, max_in_flight=2)
    with pytest.raises(InvalidValue, match="source"):
        FeedActor("data", speed=None, batch_size=5, max_in_flight=2, source="tape")  # type: ignore[arg-type]
