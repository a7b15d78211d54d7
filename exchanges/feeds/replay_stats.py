"""What a replay reads and what it counted: discovered files, per-file counters, frozen stats.

Every reader counts what it did in a ``FileCounters``; ``ReplayFeed.stats``
freezes them into ``ReplayStats``. Nothing is dropped quietly: whatever a reader
does not emit is counted under a named reason.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.events import (
    Bar,
    BookDelta,
    FundingEvent,
    GapEvent,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)

# -- FILES --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayFile:
    """One discovered data file: its format, venue and the unified symbols it holds.

    ``symbols`` is empty when the format names them only inside the data (the
    normalized recording); ``selected`` says whether the feed's filters kept it;
    ``market`` is spot, linear or inverse where one file holds one market;
    ``first_ns`` is the time of its first record where that is cheap to read.
    """

    path: Path
    format: str
    venue: str
    symbols: tuple[str, ...]
    selected: bool = True
    market: str = ""
    first_ns: int | None = None


# -- COUNTERS AND STATS -------------------------------------------------------

KIND_BY_TYPE: dict[type, str] = {
    BookDelta: "book_deltas",
    TopOfBook: "top_of_book",
    TradeTick: "trades",
    Bar: "bars",
    FundingEvent: "funding_events",
    MarkEvent: "marks",
    Liquidation: "liquidations",
    GapEvent: "gaps",
}
"""The stats field that counts each event type (the live feed's counts use the same names)."""


class FileCounters:
    """Mutable counts of one file while it is read (see ``FileStats`` for their meaning)."""

    __slots__ = (
        "bars",
        "book_deltas",
        "books",
        "folded_into_snapshot",
        "format",
        "funding_events",
        "gaps",
        "ignored",
        "liquidations",
        "marks",
        "messages",
        "outside_window",
        "path",
        "skipped_invalid",
        "skipped_predicted",
        "skipped_stale",
        "skipped_unsynced",
        "top_of_book",
        "trades",
    )

    def __init__(self, path: Path, format: str) -> None:
        self.path = path
        self.format = format
        self.messages = 0
        self.book_deltas = 0
        self.books = 0
        self.top_of_book = 0
        self.trades = 0
        self.bars = 0
        self.funding_events = 0
        self.marks = 0
        self.liquidations = 0
        self.gaps = 0
        self.skipped_stale = 0
        self.skipped_unsynced = 0
        self.skipped_predicted = 0
        self.skipped_invalid = 0
        self.folded_into_snapshot = 0
        self.outside_window = 0
        self.ignored: dict[str, int] = {}

    def ignore(self, reason: str, count: int = 1) -> None:
        """Count a record that carries nothing to emit (an ack, an open kline), by reason."""
        self.ignored[reason] = self.ignored.get(reason, 0) + count

    def count(self, event: MarketEvent) -> None:
        """Count an event produced outside a reader's own hot loop."""
        name = KIND_BY_TYPE[type(event)]
        setattr(self, name, getattr(self, name) + 1)
        if isinstance(event, BookDelta) and event.snapshot:
            self.books += 1

    def withdraw(self, event: MarketEvent) -> None:
        """Take back the count of a produced event that a filter did not let through."""
        name = KIND_BY_TYPE[type(event)]
        setattr(self, name, getattr(self, name) - 1)
        if isinstance(event, BookDelta) and event.snapshot:
            self.books -= 1

    def freeze(self) -> FileStats:
        return FileStats(
            path=str(self.path),
            format=self.format,
            **{name: getattr(self, name) for name in _COUNT_NAMES},
            ignored=dict(self.ignored),
        )


@dataclass(frozen=True, slots=True)
class _Counts:
    """The counts shared by a file's stats and the whole replay's stats.

    ``book_deltas`` counts every BookDelta emitted, snapshots included; ``books``
    is how many of them were snapshots (a sync or a resync). ``skipped_stale``:
    diffs older than their snapshot, dropped as the venue's protocol says;
    ``skipped_unsynced``: diffs that arrived while no snapshot could be used (after
    a gap, before any snapshot); ``folded_into_snapshot``: diffs that arrived
    before their snapshot and were applied into the snapshot event; ``skipped_invalid``
    and ``skipped_predicted``: funding rows left out (reasons in ``ignored``);
    ``outside_window``: events before ``start_ns`` or the first after ``end_ns``.
    """

    messages: int = 0
    book_deltas: int = 0
    books: int = 0
    top_of_book: int = 0
    trades: int = 0
    bars: int = 0
    funding_events: int = 0
    marks: int = 0
    liquidations: int = 0
    gaps: int = 0
    skipped_stale: int = 0
    skipped_unsynced: int = 0
    skipped_predicted: int = 0
    skipped_invalid: int = 0
    folded_into_snapshot: int = 0
    outside_window: int = 0


_COUNT_NAMES = tuple(f.name for f in fields(_Counts))
_EVENT_NAMES = (
    "book_deltas",
    "top_of_book",
    "trades",
    "bars",
    "funding_events",
    "marks",
    "liquidations",
    "gaps",
)


@dataclass(frozen=True, slots=True)
class FileStats(_Counts):
    """What one file gave: events by kind, and every record not emitted, by reason."""

    path: str = ""
    format: str = ""
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(getattr(self, name) for name in _EVENT_NAMES)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "format": self.format, "events": self.events}
        out.update({name: getattr(self, name) for name in _COUNT_NAMES})
        out["ignored"] = dict(self.ignored)
        return out


@dataclass(frozen=True, slots=True)
class ReplayStats(_Counts):
    """Totals over every file of a replay, and the per-file stats."""

    ignored: dict[str, int] = field(default_factory=dict)
    files: tuple[FileStats, ...] = ()

    @property
    def events(self) -> int:
        return sum(getattr(self, name) for name in _EVENT_NAMES)

    @classmethod
    def combine(cls, files: Collection[FileStats]) -> ReplayStats:
        totals = {name: sum(getattr(f, name) for f in files) for name in _COUNT_NAMES}
        ignored: dict[str, int] = {}
        for f in files:
            for reason, n in f.ignored.items():
                ignored[reason] = ignored.get(reason, 0) + n
        return cls(**totals, ignored=ignored, files=tuple(files))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"events": self.events}
        out.update({name: getattr(self, name) for name in _COUNT_NAMES})
        out["ignored"] = dict(self.ignored)
        out["files"] = [f.as_dict() for f in self.files]
        return out
