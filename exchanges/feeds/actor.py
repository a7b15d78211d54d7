"""The ``feed`` actor: pushes market data (recorded, or live public data) to the venue actors.

Contract:
- Source ``replay`` (the default): ``run()`` replays the whole data set (or until
  ``stop()`` or the duration), pushing time-ordered batches to each venue with at
  most ``max_in_flight`` unacknowledged batches per venue (backpressure: the feed
  waits, nothing is dropped).
- Source ``live``: ``run()`` subscribes to ``subscriptions`` ((venue, symbol)
  pairs, each a market of its paper venue: else ``NoPaperMarket`` naming both)
  through ``exchanges.feeds.live.LiveFeed`` (public ccxt endpoints, no keys) on
  its own event loop thread (``exchanges.feeds.bridge``), and pushes the events
  as they come, in batches of at most ``batch_size`` events or ``batch_window_s``
  seconds, exactly as replay batches: to the venues, the gateway's marks, the
  agents (liquidations only as the venues publish them), the council's tick on market
  time (the newest seen: live timestamps of different streams may interleave;
  each batch is ordered by time). It runs until ``stop()``, the duration, or the
  feed's error (raised by ``run``, after the feed is closed). Lockstep and a
  replay speed are refused with live data (``InvalidValue`` naming the option).
- ``run`` returns the final summary. Calling ``run`` again after it finished
  returns the same summary (idempotent: it does not replay or subscribe twice).
- ``progress()``: counters so far, readable while ``run`` is going (the actor is
  threaded for that), with ``lost``: the venues and agents lost now (``venue:<name>``
  / ``agent:<id>`` -> when and why, see ``EventPusher``). A lost actor's batches are
  skipped and the run goes on; ``replace_agent`` (the driver re-created an agent) makes
  the feed push to the new actor, abandoning any wait for the old one.
- ``stop()``: end after the batch in progress (live: within about ``poll_s``
  plus that batch's push).
- Dies: Ray restarts it; a restarted feed replays from the beginning (market data
  is idempotent for the venues only per time, so the paper run restarts it
  rather than resuming mid-stream); a restarted live feed subscribes afresh
  when ``run`` is called again.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from core.clock import RealClock
from core.errors import InvalidValue
from core.events import Bar, FundingPayment, Liquidation, MarketEvent, MarkEvent, TopOfBook
from exchanges.feeds.pacing import ReplayPacer
from exchanges.feeds.replay import ReplayFeed
from exchanges.venue_client import EventPusher, VenueClient

if TYPE_CHECKING:  # the live path imports ccxt: only when a live feed is built
    from exchanges.feeds.bridge import LiveBridge
    from exchanges.feeds.live import ExchangeFactory, LiveFeedConfig

Source = Literal["replay", "live"]


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


def without_liquidations(batch: Sequence[MarketEvent]) -> Sequence[MarketEvent]:
    """Return ``batch`` without its ``Liquidation`` events (``batch`` itself when it has none).

    The agents get liquidations from the venues only: a venue publishes the model's
    prints, or the recorded prints it takes as the market's once the first one has
    switched its model off. Forwarding the feed's recorded prints as well would let an
    agent count one liquidation twice (issue 11).
    """
    if not any(type(event) is Liquidation for event in batch):
        return batch
    return [event for event in batch if type(event) is not Liquidation]


class FeedActor:
    """Own one ``ReplayFeed`` and the pacing of its stream, or one live feed and its batching."""

    def __init__(
        self,
        data_dir: str | None,
        *,
        speed: float | None,
        batch_size: int,
        max_in_flight: int,
        duration_s: float | None = None,
        venues: tuple[str, ...] | None = None,
        lockstep: bool = False,
        start_ns: int | None = None,
        source: Source = "replay",
        subscriptions: Sequence[tuple[str, str]] = (),
        live: LiveFeedConfig | None = None,
        batch_window_s: float = 0.2,
        bridge_queue_size: int = 10_000,
        poll_s: float = 0.1,
        exchange_factory: ExchangeFactory | None = None,
    ) -> None:
        """Build the feed of ``source``.

        Replay only: ``start_ns`` skips the events before it (a resumed paper run; the
        books are sent whole at that point).
        Live only: ``subscriptions`` (venue, symbol) pairs; ``live`` a
        ``LiveFeedConfig`` (channels, poll intervals, queue size…; its defaults
        when ``None``); ``batch_window_s`` the longest a batch waits to fill;
        ``bridge_queue_size`` the bound of the queue between the feed's thread and
        ``run``; ``poll_s`` how often ``run`` looks at ``stop`` and the duration
        while no event comes; ``exchange_factory`` venue -> ccxt exchange object
        (tests stub the network with it; default: ccxt.pro, else async_support).
        """
        if source not in ("replay", "live"):
            raise InvalidValue("source", source, "must be 'replay' or 'live'")
        if batch_size < 1:
            raise InvalidValue("batch_size", batch_size, "must be at least 1")
        self._source: Source = source
        self._feed: ReplayFeed | None = None
        self._live: _LiveSource | None = None
        if source == "replay":
            if data_dir is None:
                raise InvalidValue("data_dir", None, "a replay needs a data directory")
            self._feed = ReplayFeed(data_dir, venues=venues, start_ns=start_ns)
        else:
            if lockstep:
                raise InvalidValue(
                    "lockstep",
                    lockstep,
                    "needs recorded data: live data cannot wait for the actors",
                )
            if speed is not None:
                raise InvalidValue("speed", speed, "live data runs at the market's own pace")
            self._live = _LiveSource(
                subscriptions,
                live,
                venues=venues,
                batch_window_s=batch_window_s,
                queue_size=bridge_queue_size,
                poll_s=poll_s,
                exchange_factory=exchange_factory,
            )
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
        self._quoted_ns: int | None = None  # the last order book's market time (for the council)
        self._started = 0.0
        self._pushers: dict[str, EventPusher] = {}

    def files(self) -> list[dict[str, Any]]:
        if self._feed is None:
            return []
        return [dict(path=str(f.path), format=f.format, venue=f.venue) for f in self._feed.files()]

    def run(
        self,
        venues: dict[str, VenueClient],
        agents: dict[str, EventPusher] | None = None,
        gateway: Any = None,
        council: Any = None,
    ) -> dict[str, Any]:
        """Push the data to the venues, then to the agents (with the venues' model liquidations), marking the gateway."""
        agents = agents or {}
        self._pushers = {
            **{f"venue:{name}": client for name, client in venues.items()},
            **{f"agent:{name}": agent for name, agent in agents.items()},
        }
        with self._lock:
            if self._summary is not None:
                return self._summary
            self._started = time.monotonic()
            liquidations: list[MarketEvent] = []  # published by the venues, forwarded to the agents
            if self._live is not None:
                stopped_by = self._run_live(
                    self._live, venues, agents, gateway, council, liquidations
                )
            else:
                stopped_by = self._run_replay(venues, agents, gateway, council, liquidations)
            for client in venues.values():
                for generated in client.drain():
                    liquidations.extend(self._route(generated, gateway))
            for agent in agents.values():
                if liquidations:
                    agent.push(liquidations, self._max_in_flight)
                agent.drain()
            self._summary = self._make_summary(stopped_by)
            return self._summary

    def _stop_reason(self) -> str | None:
        if self._stop.is_set():
            return "stop"
        if self._duration_s is not None and time.monotonic() - self._started >= self._duration_s:
            return "duration"
        return None

    def _run_replay(
        self,
        venues: dict[str, VenueClient],
        agents: dict[str, EventPusher],
        gateway: Any,
        council: Any,
        liquidations: list[MarketEvent],
    ) -> str:
        assert self._feed is not None
        pacer = ReplayPacer(self._speed, RealClock(), time.sleep)
        if self._lockstep:  # whole instants, as the backtest steps (an instant can span batches)
            from agents.base import whole_instants

            for instant in whole_instants(self._feed.batches(self._batch_size)):
                reason = self._stop_reason()
                if reason is not None:
                    return reason
                pacer.wait_until(instant[-1].ts_ns)
                self._step(instant, venues, agents, gateway, council)
                self._pushed += len(instant)
                self._market_ns = instant[-1].ts_ns
            return "end of data"
        for batch in self._feed.batches(self._batch_size):
            reason = self._stop_reason()
            if reason is not None:
                return reason
            pacer.wait_until(batch[-1].ts_ns)
            self._publish(batch, venues, agents, gateway, council, liquidations, batch[-1].ts_ns)
            self._pushed += len(batch)
            self._market_ns = batch[-1].ts_ns
        return "end of data"

    def _run_live(
        self,
        live: _LiveSource,
        venues: dict[str, VenueClient],
        agents: dict[str, EventPusher],
        gateway: Any,
        council: Any,
        liquidations: list[MarketEvent],
    ) -> str:
        live.check_venues(venues)
        bridge = live.start()
        try:
            while True:
                reason = self._stop_reason()
                if reason is not None:
                    return reason
                wait_s = live.poll_s
                if self._duration_s is not None:
                    left = self._duration_s - (time.monotonic() - self._started)
                    wait_s = max(0.0, min(wait_s, left))
                batch = bridge.next_batch(self._batch_size, live.batch_window_s, wait_s)
                if batch is None:
                    return "end of data"
                if not batch:
                    continue
                batch.sort(key=_time_of)  # stable: each stream keeps its own order
                live.counts.add(batch)
                self._market_ns = max(self._market_ns, batch[-1].ts_ns)
                self._publish(
                    batch, venues, agents, gateway, council, liquidations, self._market_ns
                )
                self._pushed += len(batch)
        finally:
            live.close()

    def _publish(
        self,
        batch: Sequence[MarketEvent],
        venues: dict[str, VenueClient],
        agents: dict[str, EventPusher],
        gateway: Any,
        council: Any,
        liquidations: list[MarketEvent],
        tick_ns: int,
    ) -> None:
        """Push one batch to the venues, mark the gateway, push to the agents, tick the council."""
        by_venue: dict[str, list[MarketEvent]] = defaultdict(list)
        for event in batch:
            by_venue[event.venue].append(event)
        for name, events in by_venue.items():
            client = venues.get(name)
            if client is not None:
                for generated in client.push(events, self._max_in_flight):
                    liquidations.extend(self._route(generated, gateway))
        if gateway is not None:
            prices = marks_of(batch)
            if prices:
                gateway.mark(prices)
        if agents:
            market = without_liquidations(batch)
            outgoing = [*liquidations, *market] if liquidations else market
            liquidations.clear()
            for agent in agents.values():
                agent.push(outgoing, self._max_in_flight)
        if council is not None:
            self._note_books(batch)
            council.tick(tick_ns, self._quoted_ns)

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
                    answer = ray.get(client.handle.on_market_events.remote(mine))
                    generated.extend(self._route(answer, gateway))
            if gateway is not None:
                gateway.mark(marks_of(group), group[0].ts_ns)
            seen = [*generated, *without_liquidations(group)]
            for agent in agents.values():
                ray.get(agent.handle.on_market_events.remote(seen, True))
            if gateway is not None and agents:
                gateway.poll()
            if council is not None:
                self._note_books(group)
                council.tick(group[0].ts_ns, self._quoted_ns)

    def _note_books(self, events: Sequence[MarketEvent]) -> None:
        """Remember the last order book's time: the council decides nothing once books end."""
        for event in events:
            if isinstance(event, TopOfBook):
                self._quoted_ns = max(self._quoted_ns or event.ts_ns, event.ts_ns)

    def stop(self) -> None:
        self._stop.set()

    def progress(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self._started if self._started else 0.0
        return {
            "source": self._source,
            "events": self._pushed,
            "market_time_ns": self._market_ns,
            "elapsed_s": round(elapsed, 3),
            "generated": dict(self._generated),
            "feed": self._feed_stats(),
            "done": self._summary is not None,
            "lost": self.lost(),
        }

    def replace_agent(self, agent_id: str, handle: Any) -> bool:
        """Push to ``handle`` for ``agent_id`` from now on (the driver re-created the agent
        lost with its node); False when the run has no such agent."""
        pusher = self._pushers.get(f"agent:{agent_id}")
        if pusher is None:
            return False
        pusher.replace(handle)
        return True

    def lost(self) -> dict[str, dict[str, Any]]:
        """The actors lost now: key -> when (wall time), why, and the lost actor's id."""
        found: dict[str, dict[str, Any]] = {}
        for key, pusher in list(self._pushers.items()):
            at = getattr(pusher, "lost_at", None)  # any pusher without the record: never lost
            if at is not None:
                last = pusher.losses[-1]
                found[key] = {"at": at, "error": last["error"], "actor_id": last["actor_id"]}
        return found

    def _feed_stats(self) -> dict[str, Any]:
        if self._live is not None:
            return self._live.stats()
        assert self._feed is not None
        return self._feed.stats.as_dict()

    def _route(self, events: list[MarketEvent], gateway: Any) -> list[MarketEvent]:
        """Count what a venue made; book its funding payments in the gateway (the account's
        cash, so the gateway's books stay equal to the venue's); return the rest (liquidations)."""
        self._count_generated(events)
        payments = [e for e in events if isinstance(e, FundingPayment)]
        if not payments:
            return events
        if gateway is not None:
            for payment in payments:
                gateway.book_funding(payment)
        return [e for e in events if not isinstance(e, FundingPayment)]

    def _count_generated(self, events: list[MarketEvent]) -> list[MarketEvent]:
        for event in events:
            kind = type(event).__name__
            if isinstance(event, Liquidation):
                # The model's prints, and the recorded ones a venue took (its model then off).
                kind = "liquidations" if event.source == "model" else "recorded_liquidations"
            self._generated[kind] += 1
        return events

    def _make_summary(self, stopped_by: str) -> dict[str, Any]:
        elapsed = time.monotonic() - self._started
        summary: dict[str, Any] = {
            "data_dir": self._data_dir,
            "stopped_by": stopped_by,
            "events": self._pushed,
            "elapsed_s": round(elapsed, 3),
            "events_per_s": round(self._pushed / elapsed) if elapsed > 0 else None,
            "feed": self._feed_stats(),
            "generated": dict(self._generated),
            "losses": {
                key: list(losses)
                for key, pusher in self._pushers.items()
                if (losses := getattr(pusher, "losses", None))
            },
        }
        if self._live is not None:
            summary["source"] = "live"
            summary["subscriptions"] = [list(pair) for pair in self._live.subscriptions]
        return summary


def _time_of(event: MarketEvent) -> int:
    return event.ts_ns


class _LiveSource:
    """The live half of the feed actor: the checked subscriptions, the bridge, the counts."""

    def __init__(
        self,
        subscriptions: Iterable[tuple[str, str]],
        config: LiveFeedConfig | None,
        *,
        venues: tuple[str, ...] | None,
        batch_window_s: float,
        queue_size: int,
        poll_s: float,
        exchange_factory: ExchangeFactory | None,
    ) -> None:
        from exchanges.feeds.bridge import EventCounts, check_paper_markets
        from exchanges.feeds.live import LiveFeedConfig

        if config is not None and not isinstance(config, LiveFeedConfig):
            raise InvalidValue("live", type(config).__name__, "must be a LiveFeedConfig")
        if not batch_window_s >= 0:
            raise InvalidValue("batch_window_s", batch_window_s, "must be zero or more")
        if not poll_s > 0:
            raise InvalidValue("poll_s", poll_s, "must be more than zero")
        self.subscriptions = check_paper_markets(subscriptions)
        if venues is not None:
            for venue, symbol in self.subscriptions:
                if venue not in venues:
                    raise InvalidValue(
                        "subscriptions",
                        (venue, symbol),
                        f"venue {venue!r} is not one of the paper venues {list(venues)}",
                    )
        self.config = config or LiveFeedConfig()
        self.batch_window_s = batch_window_s
        self.queue_size = queue_size
        self.poll_s = poll_s
        self.exchange_factory = exchange_factory
        self.counts = EventCounts()
        self._bridge: LiveBridge | None = None

    def check_venues(self, venues: dict[str, VenueClient]) -> None:
        """Refuse a subscription whose venue has no venue actor to feed (its events would be lost)."""
        for venue, symbol in self.subscriptions:
            if venue not in venues:
                raise InvalidValue(
                    "subscriptions",
                    (venue, symbol),
                    f"no venue:{venue} actor was given to run (venues: {sorted(venues)})",
                )

    def start(self) -> LiveBridge:
        from exchanges.feeds.bridge import LiveBridge
        from exchanges.feeds.live import LiveFeed

        feed = LiveFeed(
            self.subscriptions,
            clock=RealClock(),
            config=self.config,
            exchange_factory=self.exchange_factory,
        )
        self._bridge = LiveBridge(feed, queue_size=self.queue_size)
        self._bridge.start()
        return self._bridge

    def close(self) -> None:
        if self._bridge is not None:
            self._bridge.close()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts.as_dict())
        if self._bridge is not None:
            live = self._bridge.feed.stats
            out.update(
                errors=live.errors,
                retries=live.retries,
                trades_without_side=live.trades_without_side,
                funding_settlements_missed=live.funding_settlements_missed,
                feed_queue_depth=live.queue_depth,
            )
            out["bridge"] = self._bridge.stats()
        return out
