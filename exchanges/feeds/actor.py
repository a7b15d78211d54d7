"""The ``feed`` actor: replays recorded data and pushes it to the venue actors.

Contract:
- ``run()``: replay the whole data set (or until ``stop()`` or the duration),
  pushing time-ordered batches to each venue with at most ``max_in_flight``
  unacknowledged batches per venue (backpressure: the feed waits, nothing is
  dropped). Returns the final summary. Calling ``run`` again after it finished
  returns the same summary (idempotent: it does not replay twice).
- ``progress()``: counters so far, readable while ``run`` is going (the actor is
  threaded for that).
- ``stop()``: end the replay after the batch in progress.
- Dies: Ray restarts it; a restarted feed replays from the beginning (market data
  is idempotent for the venues only per time, so the paper run restarts it
  rather than resuming mid-stream).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from core.clock import RealClock
from core.events import Bar, Liquidation, MarketEvent, MarkEvent, TopOfBook
from exchanges.feeds.pacing import ReplayPacer
from exchanges.feeds.replay import ReplayFeed
from exchanges.venue_client import EventPusher, VenueClient


def marks_of(batch: Sequence[MarketEvent]) -> dict[tuple[str, str], Decimal]:
    """Return the latest mid (or bar close, or mark) per market in ``batch``: the gateway's reference prices."""
    prices: dict[tuple[str, str], Decimal] = {}
    for event in batch:
        if isinstance(event, TopOfBook):
            if event.bid > 0 and event.ask > 0:
                prices[(event.venue, event.symbol)] = (event.bid + event.ask) / 2
        elif isinstance(event, MarkEvent) and event.mark_price:
            prices[(event.venue, event.symbol)] = event.mark_price
        elif isinstance(event, Bar):
            prices.setdefault((event.venue, event.symbol), event.close)
    return prices


class FeedActor:
    """Own one ``ReplayFeed`` and the pacing of its stream."""

    def __init__(
        self,
        data_dir: str,
        *,
        speed: float | None,
        batch_size: int,
        max_in_flight: int,
        duration_s: float | None = None,
        venues: tuple[str, ...] | None = None,
        lockstep: bool = False,
    ) -> None:
        self._feed = ReplayFeed(data_dir, venues=venues)
        self._data_dir = data_dir
        self._speed = speed
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._duration_s = duration_s
        self._lockstep = lockstep
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._summary: dict[str, Any] | None = None
        self._pushed = 0
        self._generated: dict[str, int] = defaultdict(int)
        self._market_ns = 0
        self._started = 0.0

    def files(self) -> list[dict[str, Any]]:
        return [dict(path=str(f.path), format=f.format, venue=f.venue) for f in self._feed.files()]

    def run(
        self,
        venues: dict[str, VenueClient],
        agents: dict[str, EventPusher] | None = None,
        gateway: Any = None,
        council: Any = None,
    ) -> dict[str, Any]:
        """Replay to the venues, then to the agents (with the venues' model liquidations), marking the gateway."""
        agents = agents or {}
        with self._lock:
            if self._summary is not None:
                return self._summary
            self._started = time.monotonic()
            pacer = ReplayPacer(self._speed, RealClock(), time.sleep)
            stopped_by = "end of data"
            liquidations: list[MarketEvent] = []  # published by the venues, forwarded to the agents
            for batch in self._feed.batches(self._batch_size):
                if self._stop.is_set():
                    stopped_by = "stop"
                    break
                if (
                    self._duration_s is not None
                    and time.monotonic() - self._started >= self._duration_s
                ):
                    stopped_by = "duration"
                    break
                pacer.wait_until(batch[-1].ts_ns)
                if self._lockstep:
                    self._step(batch, venues, agents, gateway, council)
                    self._pushed += len(batch)
                    self._market_ns = batch[-1].ts_ns
                    continue
                by_venue: dict[str, list[MarketEvent]] = defaultdict(list)
                for event in batch:
                    by_venue[event.venue].append(event)
                for name, events in by_venue.items():
                    client = venues.get(name)
                    if client is not None:
                        for generated in client.push(events, self._max_in_flight):
                            liquidations.extend(self._count_generated(generated))
                if gateway is not None:
                    prices = marks_of(batch)
                    if prices:
                        gateway.mark(prices)
                if agents:
                    outgoing = [*liquidations, *batch] if liquidations else batch
                    liquidations = []
                    for agent in agents.values():
                        agent.push(outgoing, self._max_in_flight)
                if council is not None:
                    council.tick(batch[-1].ts_ns)
                self._pushed += len(batch)
                self._market_ns = batch[-1].ts_ns
            for client in venues.values():
                for generated in client.drain():
                    liquidations.extend(self._count_generated(generated))
            for agent in agents.values():
                if liquidations:
                    agent.push(liquidations, self._max_in_flight)
                agent.drain()
            self._summary = self._make_summary(stopped_by)
            return self._summary

    def _step(
        self,
        batch: Sequence[MarketEvent],
        venues: dict[str, VenueClient],
        agents: dict[str, EventPusher],
        gateway: Any,
        council: Any = None,
    ) -> None:
        """Replay ``batch`` one market instant at a time, waiting for every actor: deterministic.

        Per instant, as ``backtest.runner`` does it: the venues apply the events, the
        gateway's clock and marks move, each agent decides on the events and the
        venues' liquidations of that instant (its orders acknowledged before the
        next agent), then the gateway polls fills.
        """
        import ray

        from agents.base import split_by_time

        for group in split_by_time(batch):
            generated: list[MarketEvent] = []
            for name, client in venues.items():
                mine = [e for e in group if e.venue == name]
                if mine:
                    generated.extend(
                        self._count_generated(ray.get(client.handle.on_market_events.remote(mine)))
                    )
            if gateway is not None:
                gateway.mark(marks_of(group), group[0].ts_ns)
            seen = [*generated, *group] if generated else list(group)
            for agent in agents.values():
                ray.get(agent.handle.on_market_events.remote(seen, True))
            if gateway is not None and agents:
                gateway.poll()
            if council is not None:
                council.tick(group[0].ts_ns)

    def stop(self) -> None:
        self._stop.set()

    def progress(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self._started if self._started else 0.0
        return {
            "events": self._pushed,
            "market_time_ns": self._market_ns,
            "elapsed_s": round(elapsed, 3),
            "generated": dict(self._generated),
            "feed": self._feed.stats.as_dict(),
            "done": self._summary is not None,
        }

    def _count_generated(self, events: list[MarketEvent]) -> list[MarketEvent]:
        for event in events:
            kind = "liquidations" if isinstance(event, Liquidation) else type(event).__name__
            self._generated[kind] += 1
        return events

    def _make_summary(self, stopped_by: str) -> dict[str, Any]:
        elapsed = time.monotonic() - self._started
        return {
            "data_dir": self._data_dir,
            "stopped_by": stopped_by,
            "events": self._pushed,
            "elapsed_s": round(elapsed, 3),
            "events_per_s": round(self._pushed / elapsed) if elapsed > 0 else None,
            "feed": self._feed.stats.as_dict(),
            "generated": dict(self._generated),
        }
