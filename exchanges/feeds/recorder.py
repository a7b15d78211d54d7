"""Record a live event stream into normalized ``*.swarm.parquet`` files (``main.py record``).

Events are buffered per venue and written with ``normalized.write_events`` to
``<out_dir>/<venue>_<start-utc>.swarm.parquet``, where ``start-utc`` is the
clock's time when the file's first event arrived. A file is closed (rolled)
when it holds ``max_events_per_file`` events or about ``max_bytes_per_file``
bytes of raw event data, and at the end. Recording stops on the duration, the
event count, a ``stop`` event, the end of the source or cancellation; in every
case the buffered events are written before ``record`` returns or raises.

Files are written on the event loop's thread: a roll pauses consumption for
the write (the live feed's bounded queue holds what arrives meanwhile), and a
cancellation can never leave a half-written or unreported file behind.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from core.clock import NS_PER_S, Clock
from core.errors import InvalidValue
from core.events import BookDelta, MarketEvent
from exchanges.feeds.normalized import SUFFIX, write_events

log = logging.getLogger(__name__)

StoppedBy = Literal["duration", "max_events", "stopped", "source_ended"]
Sleep = Callable[[float], Awaitable[None]]


class EventSource(Protocol):
    """Anything with an async ``events()`` stream, such as ``LiveFeed``."""

    def events(self) -> AsyncIterator[MarketEvent]: ...


@dataclass(frozen=True)
class RecordResult:
    """What a recording produced: its files in order of writing and its counts."""

    files: tuple[Path, ...]
    events: int
    events_by_venue: Mapping[str, int]
    stopped_by: StoppedBy
    started_ns: int
    ended_ns: int


@dataclass
class _Buffer:
    opened_ns: int
    events: list[MarketEvent] = field(default_factory=list)
    estimated_bytes: int = 0


def estimated_bytes(event: MarketEvent) -> int:
    """Estimate the raw size of ``event`` in a file, for rolling by size (not exact)."""
    if isinstance(event, BookDelta):
        return 64 + 40 * (len(event.bids) + len(event.asks))
    return 96


def _safe_name(venue: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", venue).strip(".") or "venue"


def _utc_stamp(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS_PER_S, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


class _Recorder:
    def __init__(
        self,
        out_dir: Path,
        clock: Clock,
        max_events: int | None,
        max_events_per_file: int,
        max_bytes_per_file: int,
        metadata: Mapping[str, str],
    ) -> None:
        self.out_dir = out_dir
        self.clock = clock
        self.max_events = max_events
        self.max_events_per_file = max_events_per_file
        self.max_bytes_per_file = max_bytes_per_file
        self.metadata = dict(metadata)
        self.buffers: dict[str, _Buffer] = {}
        self.files: list[Path] = []
        self.count = 0
        self.by_venue: dict[str, int] = {}

    def add(self, event: MarketEvent) -> None:
        buffer = self.buffers.get(event.venue)
        if buffer is None:
            buffer = self.buffers[event.venue] = _Buffer(self.clock.now_ns())
        buffer.events.append(event)
        buffer.estimated_bytes += estimated_bytes(event)
        self.count += 1
        self.by_venue[event.venue] = self.by_venue.get(event.venue, 0) + 1
        if (
            len(buffer.events) >= self.max_events_per_file
            or buffer.estimated_bytes >= self.max_bytes_per_file
        ):
            self.flush(event.venue)

    def flush(self, venue: str) -> None:
        buffer = self.buffers.pop(venue, None)
        if buffer is None or not buffer.events:
            return
        path = self._new_path(venue, buffer.opened_ns)
        metadata = {
            **self.metadata,
            "venue": venue,
            "recorded_by": "swarm record",
            "file_started_utc": datetime.fromtimestamp(buffer.opened_ns / NS_PER_S, tz=UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        write_events(path, buffer.events, metadata=metadata)
        self.files.append(path)
        log.info("recorded %d %s events to %s", len(buffer.events), venue, path)

    def flush_all(self) -> None:
        for venue in list(self.buffers):
            self.flush(venue)

    def _new_path(self, venue: str, opened_ns: int) -> Path:
        stem = f"{_safe_name(venue)}_{_utc_stamp(opened_ns)}"
        path = self.out_dir / f"{stem}{SUFFIX}"
        number = 1
        while path.exists() or path in self.files:
            path = self.out_dir / f"{stem}-{number}{SUFFIX}"
            number += 1
        return path


async def _consume(feed: EventSource, recorder: _Recorder, deadline_ns: int | None) -> StoppedBy:
    stream = feed.events()
    try:
        async for event in stream:
            if deadline_ns is not None and recorder.clock.now_ns() >= deadline_ns:
                return "duration"
            recorder.add(event)
            if recorder.max_events is not None and recorder.count >= recorder.max_events:
                return "max_events"
        return "source_ended"
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def _wait(sleep: Sleep, seconds: float) -> None:
    await sleep(seconds)


async def record(
    feed: EventSource,
    out_dir: Path | str,
    *,
    duration_s: float | None,
    max_events: int | None,
    clock: Clock,
    max_events_per_file: int = 100_000,
    max_bytes_per_file: int = 64 * 2**20,
    metadata: Mapping[str, str] | None = None,
    stop: asyncio.Event | None = None,
    sleep: Sleep = asyncio.sleep,
) -> RecordResult:
    """Record ``feed`` into ``out_dir`` until the duration, the count, ``stop`` or the source's end.

    ``duration_s`` is measured on ``clock`` for each event and, for a quiet
    source, by ``sleep(duration_s)``. A failing source or a cancellation first
    writes what was buffered (the files are logged), then re-raises.
    """
    if duration_s is not None and not duration_s > 0:
        raise InvalidValue("duration_s", duration_s, "must be > 0 or None")
    if max_events is not None and max_events < 1:
        raise InvalidValue("max_events", max_events, "must be >= 1 or None")
    if max_events_per_file < 1:
        raise InvalidValue("max_events_per_file", max_events_per_file, "must be >= 1")
    if max_bytes_per_file < 1:
        raise InvalidValue("max_bytes_per_file", max_bytes_per_file, "must be >= 1")
    for key in metadata or {}:
        if key.startswith("swarm."):  # checked now: failing at the first flush would lose data
            raise InvalidValue("metadata", key, "keys starting 'swarm.' are reserved")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started_ns = clock.now_ns()
    deadline_ns = None if duration_s is None else started_ns + int(duration_s * NS_PER_S)
    recorder = _Recorder(
        out, clock, max_events, max_events_per_file, max_bytes_per_file, metadata or {}
    )

    consumer = asyncio.create_task(_consume(feed, recorder, deadline_ns), name="record consume")
    waiters: dict[asyncio.Task[Any], StoppedBy] = {}
    if duration_s is not None:
        waiters[asyncio.create_task(_wait(sleep, duration_s), name="record timer")] = "duration"
    if stop is not None:
        waiters[asyncio.create_task(stop.wait(), name="record stop")] = "stopped"
    try:
        done, _ = await asyncio.wait({consumer, *waiters}, return_when=asyncio.FIRST_COMPLETED)
        if consumer in done:
            stopped_by = consumer.result()  # a failing source raises here
        else:
            stopped_by = next(waiters[task] for task in done if task in waiters)
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
    finally:
        try:
            for task in (consumer, *waiters):
                task.cancel()
            await asyncio.gather(consumer, *waiters, return_exceptions=True)
        finally:
            recorder.flush_all()
    return RecordResult(
        files=tuple(recorder.files),
        events=recorder.count,
        events_by_venue=dict(recorder.by_venue),
        stopped_by=stopped_by,
        started_ns=started_ns,
        ended_ns=clock.now_ns(),
    )
