"""The feed actor with a live source, on Ray, into a real paper venue actor; offline.

The exchange is ccxt's real ``binance`` class whose HTTP layer answers with ccxt's own
recorded responses (tests/fixtures/ccxt, through the LiveFeed tests' ``real_exchange``):
an unexpected URL fails the feed, so no request can leave the machine. The feed polls
book, trades and ticker; the test waits (under a generous deadline) until the feed
has pushed what it needs, stops it, and reads the venue actor.
"""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import pytest

from cli.runtime import create_actor
from core.config import PaperConfig
from exchanges.feeds.actor import FeedActor
from exchanges.feeds.live import LiveFeedConfig
from exchanges.paper_actor import VenueActor
from exchanges.venue_client import VenueClient
from tests.unit.exchanges.feeds.live_support import real_exchange, recorded

VENUE, SYMBOL = "binance", "BTC/USDT"
BASE = "https://api.binance.com/api/v3"


class RecordedBinance:
    """An exchange factory (picklable: it travels to the feed actor) over recorded answers."""

    def __call__(self, venue: str) -> Any:
        assert venue == VENUE, venue
        routes = {
            f"{BASE}/depth?symbol=BTCUSDT&limit=2": [
                recorded("binance", "fetchOrderBook", "BTC/USDT")
            ],
            f"{BASE}/aggTrades?symbol=BTCUSDT&limit=1": [
                recorded("binance", "fetchTrades", "BTC/USDT")
            ],
            f"{BASE}/ticker/24hr?symbol=BTCUSDT": [recorded("binance", "fetchTicker", "BTC/USDT")],
        }
        return real_exchange("binance", {SYMBOL: "BTCUSDT"}, routes)


@pytest.fixture
def actors(ray_session: str) -> Any:
    import ray

    names = ("venue:binance:live-test", "feed:live-test")
    venue = create_actor("venue", names[0], VenueActor, VENUE, PaperConfig())
    feed = create_actor(
        "feed",
        names[1],
        FeedActor,
        None,
        speed=None,
        batch_size=16,
        max_in_flight=2,
        venues=(VENUE,),
        source="live",
        subscriptions=[(VENUE, SYMBOL)],
        live=LiveFeedConfig(
            channels=("book", "trades", "ticker"),
            book_depth=2,
            trades_limit=1,
            trades_backfill=True,
            poll_interval_s=0.05,
        ),
        batch_window_s=0.05,
        exchange_factory=RecordedBinance(),
    )
    yield venue, feed
    for name in names:
        try:
            ray.kill(ray.get_actor(name), no_restart=True)
        except ValueError:
            pass


def test_live_feed_when_run_into_a_venue_actor_then_the_venue_rebuilt_the_recorded_book(
    actors: Any,
) -> None:
    import ray

    venue, feed = actors
    ref = feed.run.remote({VENUE: VenueClient(VENUE, venue)})
    deadline = time.monotonic() + 90
    while True:
        progress = ray.get(feed.progress.remote(), timeout=30)
        counts = progress["feed"]
        if counts.get("trades", 0) >= 1 and counts.get("book_deltas", 0) >= 3:
            break
        ready, _ = ray.wait([ref], timeout=0)
        assert not ready, ray.get(ref)  # the feed ended early: show why
        assert time.monotonic() < deadline, progress
        time.sleep(0.05)
    ray.get(feed.stop.remote(), timeout=30)
    summary = ray.get(ref, timeout=60)

    assert summary["stopped_by"] == "stop"
    assert summary["source"] == "live" and summary["subscriptions"] == [[VENUE, SYMBOL]]
    counts = summary["feed"]
    assert counts["errors"] == 0
    assert counts["trades"] == 1  # polled again and again: the one recorded trade, once
    stats = ray.get(venue.stats.remote(), timeout=30)
    # everything the feed pushed reached the venue, nothing was ignored
    assert stats["book_updates"] == counts["book_deltas"] >= 3
    assert stats["top_of_book_updates"] == counts["top_of_book"]
    assert stats["trades"] == 1
    assert stats["ignored_events"] == 0
    assert summary["events"] == counts["events"]
    book = ray.get(venue.fetch_order_book.remote(SYMBOL, 2), timeout=30)
    assert [tuple(level) for level in book.bids] == [
        (D("42574.30000000"), D("0.01070000")),
        (D("42574.20000000"), D("0.00646000")),
    ]
    assert [tuple(level) for level in book.asks] == [
        (D("42574.31000000"), D("0.00870000")),
        (D("42574.80000000"), D("0.00893000")),
    ]
    assert ray.get(feed.run.remote({}), timeout=30) == summary  # run is idempotent
