"""Bridge the async ``LiveFeed`` to a synchronous consumer (the ``feed`` actor's ``run``).

Contract:
- ``LiveBridge(feed, queue_size=...)`` owns one ``LiveFeed``. ``start()`` runs the
  feed on a dedicated event loop in a daemon thread; every event goes, in the
  order the feed yields it, into a bounded ``queue.Queue``. When that queue is
  full the pump waits (and with it the feed's own bounded queue and its
  streams): backpressure, nothing is dropped, memory stays bounded by the two
  queue sizes.
- ``next_batch(max_events, window_s, timeout_s)``: wait up to ``timeout_s`` for
  a first event (``[]`` if none came), then take more until ``max_events`` or
  until ``window_s`` has passed since the first. After the feed's last event it
  returns ``None`` (the feed ended), or raises the error that stopped the feed,
  once every event before the error has been handed out.
- ``close(timeout_s)``: cancel the pump, which closes the feed (its streams and
  exchange objects) on its own loop, and join the thread. Idempotent; safe
  before ``start`` and after the feed ended.

This module is pure in the project's sense: no ``ray``, no ``ccxt`` import of
its own (the ``LiveFeed`` brings ccxt), no wall clock in its logic other than the
injected ``monotonic`` for the batching window.

Also here, for the caller that builds the feed: ``check_paper_markets`` (every
subscribed (venue, symbol) has a paper market, else ``NoPaperMarket`` naming
both) and ``EventCounts`` (per-kind counts named like the replay's stats).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, fields
from typing import Any

from core.errors import InvalidValue, UnknownSymbol
from core.events import (
    BookDelta,
    MarketEvent,
)
from exchanges.feeds.live import LiveFeed
from exchanges.feeds.replay_stats import KIND_BY_TYPE
from exchanges.paper.rules import VenueRules, venue_rules

log = logging.getLogger(__name__)

Subscription = tuple[str, str]
"""(venue, symbol), in ccxt's unified symbol spelling (``BTC/USDT:USDT`` for a linear perp)."""

# -- PAPER MARKETS ------------------------------------------------------------


class NoPaperMarket(UnknownSymbol):
    """A live symbol that the paper venue does not list: its events would be ignored."""

    def __init__(self, venue: str, symbol: str, known: Sequence[str]) -> None:
        InvalidValue.__init__(
            self,
            "symbol",
            symbol,
            f"the paper venue {venue!r} has no market for it "
            f"(its paper markets: {', '.join(known)})",
        )
        self.venue = venue


def check_paper_markets(
    subscriptions: Iterable[Subscription],
    rules_of: Callable[[str], VenueRules] = venue_rules,
) -> tuple[Subscription, ...]:
    """Return the subscriptions (deduplicated, in order) if each has a paper market.

    Raise ``InvalidValue`` naming the venue when it has no paper rules, and
    ``NoPaperMarket`` naming venue and symbol when the venue does not list the symbol.
    """
    checked = tuple(dict.fromkeys((str(venue), str(symbol)) for venue, symbol in subscriptions))
    if not checked:
        raise InvalidValue("subscriptions", (), "name at least one (venue, symbol) to subscribe")
    for venue, symbol in checked:
        known = [market.symbol for market in rules_of(venue).markets]
        if symbol not in known:
            raise NoPaperMarket(venue, symbol, known)
    return checked


# -- COUNTS ---------------------------------------------------------------------


@dataclass(slots=True)
class EventCounts:
    """Events handed out per kind, named like ``ReplayStats`` so the summary reads both."""

    book_deltas: int = 0
    books: int = 0
    """Of ``book_deltas``, the snapshots (every live book update is one)."""
    top_of_book: int = 0
    trades: int = 0
    bars: int = 0
    funding_events: int = 0
    marks: int = 0
    liquidations: int = 0
    gaps: int = 0

    def add(self, events: Iterable[MarketEvent]) -> None:
        for event in events:
            name = KIND_BY_TYPE.get(type(event))
            if name is not None:
                setattr(self, name, getattr(self, name) + 1)
            if isinstance(event, BookDelta) and event.snapshot:
                self.books += 1

    def as_dict(self) -> dict[str, int]:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        counts["events"] = sum(v for k, v in counts.items() if k != "books")
        return counts


# -- THE BRIDGE -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _End:
    """The feed stopped: ``error`` is why (``None``: it ended by itself)."""

    error: BaseException | None


class LiveBridge:
    """Run a ``LiveFeed`` on its own event loop thread; hand its events out in batches."""

    def __init__(
        self,
        feed: LiveFeed,
        *,
        queue_size: int = 10_000,
        full_wait_s: float = 0.005,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if queue_size < 1:
            raise InvalidValue("queue_size", queue_size, "must be at least 1")
        self._feed = feed
        self._queue: queue.Queue[MarketEvent | _End] = queue.Queue(maxsize=queue_size)
        self._full_wait_s = full_wait_s
        self._monotonic = monotonic
        self._closing = threading.Event()
        self._loop_ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._end: _End | None = None
        self._finished = False
        self.delivered = 0
        self.max_depth = 0
        self.full_waits = 0

    @property
    def feed(self) -> LiveFeed:
        return self._feed

    def start(self) -> None:
        """Start the feed's thread; a second call is an error (a bridge runs once)."""
        if self._thread is not None:
            raise InvalidValue("start", "second call", "a LiveBridge runs once")
        self._thread = threading.Thread(target=self._thread_main, name="live-feed", daemon=True)
        self._thread.start()

    def stats(self) -> dict[str, Any]:
        return {
            "queue_depth": self._queue.qsize(),
            "max_queue_depth": self.max_depth,
            "full_waits": self.full_waits,
            "delivered": self.delivered,
        }

    # -- CONSUMER SIDE (the caller's thread) --

    def next_batch(
        self, max_events: int, window_s: float, timeout_s: float
    ) -> list[MarketEvent] | None:
        """Return the next events (``[]`` after ``timeout_s`` without any), ``None`` at the end.

        Raise the feed's error once the events before it have been returned.
        """
        if max_events < 1:
            raise InvalidValue("max_events", max_events, "must be at least 1")
        if self._end is not None:
            self._finished = True
            if self._end.error is not None:
                raise self._end.error
            return None
        try:
            first = self._queue.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return []
        if isinstance(first, _End):
            self._end = first
            return self.next_batch(max_events, window_s, timeout_s)
        batch = [first]
        deadline = self._monotonic() + window_s
        while len(batch) < max_events:
            remaining = deadline - self._monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if isinstance(item, _End):
                self._end = item
                break
            batch.append(item)
        self.delivered += len(batch)
        return batch

    @property
    def ended(self) -> bool:
        """Whether ``next_batch`` has reported the end (``None`` or the error)."""
        return self._finished

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop the feed and join its thread; return whether the thread ended within ``timeout_s``."""
        self._closing.set()
        thread = self._thread
        if thread is None:
            return True
        if self._loop_ready.wait(timeout_s):
            loop, task = self._loop, self._task
            if loop is not None and task is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:  # the loop closed meanwhile: the thread is ending
                    pass
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("the live feed's thread did not end within %.1fs", timeout_s)
            return False
        return True

    # -- PRODUCER SIDE (the feed's thread) --

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._loop = loop
            self._task = loop.create_task(self._pump())
            self._loop_ready.set()
            try:
                loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                pass
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            self._loop_ready.set()
            loop.close()

    async def _pump(self) -> None:
        if self._closing.is_set():
            await self._feed.close()
            return
        try:
            async with aclosing(self._feed.events()) as events:
                async for event in events:
                    if not await self._put(event):
                        return
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the feed's own error, handed to the consumer
            await self._put(_End(exc))
            return
        await self._put(_End(None))

    async def _put(self, item: MarketEvent | _End) -> bool:
        """Queue ``item``, waiting while the queue is full; ``False`` if closing meanwhile."""
        while True:
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                if self._closing.is_set():
                    return False
                self.full_waits += 1
                await asyncio.sleep(self._full_wait_s)
                continue
            depth = self._queue.qsize()
            if depth > self.max_depth:
                self.max_depth = depth
            return True
