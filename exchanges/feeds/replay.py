"""The replay feed: recorded market data files -> one time-ordered stream of events.

``ReplayFeed(data_dir)`` discovers every data file under ``data_dir`` (or takes
one file), recognises its format, and merges the per-file event streams by
``ts_ns`` (a heap merge; equal times keep file order, then record order). Books
are rebuilt inside with the venue's sequence rules; a broken sequence is a
``GapEvent`` followed by a resync from the next snapshot, never a guess.

Formats: Binance raw captures (hftbacktest), cryptofeed Bybit v5 captures, Lean
minute bars and funding prints, funding-history parquet, Hyperliquid funding
JSON, and Swarm's own normalized recordings (``*.swarm.parquet``, read by
``exchanges.feeds.normalized``). Files named ``*.md``, ``*.txt``, ``LICENSE*``,
``SHA256SUMS*`` and dotfiles are documentation and skipped; any other file
that is not one of these formats is a ``DataFormatError`` naming it.

Each iteration replays from the start; ``stats`` describe the latest one. A
file's events must be in time order (a capture whose clock goes backwards is
an error naming the line), since the merge relies on it.

Bad input is a ``DataFormatError`` naming the file and line, never a skip. A
gzip capture cut mid-write (no gzip trailer) replays its complete lines, then
fails naming the cut line: a recording that ends early is reported, not passed
off as complete. Records that carry nothing to emit (acks, open klines,
predicted funding) are counted by reason in ``stats``.
"""

from __future__ import annotations

import heapq
import importlib
from collections.abc import Callable, Collection, Iterable, Iterator
from itertools import islice
from operator import attrgetter
from pathlib import Path

from core.book import OrderBook
from core.errors import DataFormatError, InvalidValue
from core.events import BookDelta, MarketEvent
from exchanges.feeds import binance_capture, bybit_v5, funding, lean
from exchanges.feeds.replay_base import (
    BookKey,
    LevelBook,
    ReadContext,
    symbol_filter,
)
from exchanges.feeds.replay_gzip import (
    gzip_head,
)
from exchanges.feeds.replay_stats import (
    FileCounters,
    ReplayFile,
    ReplayStats,
)

__all__ = ["ReplayFeed", "ReplayFile", "ReplayStats"]

FORMAT_NORMALIZED = "swarm_normalized"

_DOC_SUFFIXES = (".md", ".txt")
_DOC_PREFIXES = ("LICENSE", "SHA256SUMS")
_by_time = attrgetter("ts_ns")

Reader = Callable[[ReadContext], Iterator[MarketEvent]]


def _is_documentation(path: Path, root: Path) -> bool:
    relative = path.relative_to(root).parts if path != root else (path.name,)
    if any(part.startswith(".") for part in relative):
        return True
    name = path.name
    return name.lower().endswith(_DOC_SUFFIXES) or name.upper().startswith(_DOC_PREFIXES)


def describe_file(path: Path) -> ReplayFile:
    """Recognise one data file's format; raise DataFormatError naming it if unknown."""
    name = path.name.lower()
    if name.endswith(".swarm.parquet"):
        return ReplayFile(path, FORMAT_NORMALIZED, "", ())
    if name.endswith(".parquet"):
        return funding.describe_parquet(path)
    if name.endswith(".gz"):
        head = gzip_head(path)
        if binance_capture.sniff(head):
            return binance_capture.describe(path, head)
        if bybit_v5.sniff(head):
            return bybit_v5.describe(path)
        raise DataFormatError(path, "unknown gzip content: not a Binance or cryptofeed capture")
    if name.endswith(".jsonl"):
        with open(path, "rb") as f:
            head = f.read(1 << 16)
        if bybit_v5.sniff(head):
            return bybit_v5.describe(path)
    if name.endswith(".csv"):
        described = lean.describe(path)
        if described is not None:
            return described
        raise DataFormatError(
            path, "unknown CSV: not a Lean minute bar or margin_interest file by its path"
        )
    if name.endswith(".json"):
        with open(path, "rb") as f:
            head = f.read(4096)
        if funding.sniff_hyperliquid(head):
            return funding.describe_hyperliquid(path)
    raise DataFormatError(path, "unknown data file format")


def _read_normalized(file: ReplayFile, ctx: ReadContext) -> Iterator[MarketEvent]:
    try:
        module = importlib.import_module("exchanges.feeds.normalized")
        read_events = module.read_events
    except (ImportError, AttributeError) as e:
        raise DataFormatError(
            file.path, f"normalized recording, but its reader is unavailable: {e}"
        ) from None
    accept = ctx.accept
    c = ctx.counters
    events: Iterable[MarketEvent] = read_events(file.path)
    for event in events:
        c.messages += 1
        if accept is not None and not accept(event.symbol):
            c.ignore("filtered out by symbol")
            continue
        c.count(event)
        yield event


class ReplayFeed:
    """Replay recorded market data as one stream of ``core.events`` sorted by time.

    ``symbols`` filters by unified symbol (``BTC/USDT:USDT``) or base asset
    (``BTC``); ``venues`` by venue name; ``start_ns``/``end_ns`` bound the time.
    Before ``start_ns`` books are still rebuilt but nothing is emitted; at the
    first event at or after it, each synced book of that file is emitted as a
    snapshot. A file stops at its first event after ``end_ns``.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        symbols: Collection[str] | None = None,
        venues: Collection[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> None:
        if isinstance(symbols, str) or isinstance(venues, str):
            raise InvalidValue("symbols/venues", symbols or venues, "pass a collection, not a str")
        if start_ns is not None and end_ns is not None and end_ns < start_ns:
            raise InvalidValue("end_ns", end_ns, f"is before start_ns {start_ns}")
        self.root = Path(data_dir)
        self._accept = symbol_filter(symbols)
        self._venues = None if venues is None else frozenset(v.lower() for v in venues)
        self._start_ns = start_ns
        self._end_ns = end_ns
        self._files = self._discover()
        # One registry per stream: a book belongs to the stream that rebuilds it.
        self._registries: list[dict[BookKey, LevelBook]] = []
        self._counters: list[FileCounters] = [
            FileCounters(f.path, f.format) for f in self._files if f.selected
        ]

    # -- DISCOVERY ------------------------------------------------------------

    def _discover(self) -> list[ReplayFile]:
        root = self.root
        if not root.exists():
            raise DataFormatError(root, "no such file or directory")
        if root.is_file():
            paths = [root]
            root = root.parent
        else:
            paths = sorted(p for p in root.rglob("*") if p.is_file())
        found = [describe_file(p) for p in paths if not _is_documentation(p, root)]
        if not found:
            raise DataFormatError(self.root, "no replayable data file found here")
        return [self._select(f) for f in found]

    def _select(self, file: ReplayFile) -> ReplayFile:
        keep = True
        if self._venues is not None and file.venue:
            keep = file.venue in self._venues
        if keep and self._accept is not None and file.symbols:
            keep = any(self._accept(s) for s in file.symbols)
        if keep:
            return file
        return ReplayFile(
            file.path, file.format, file.venue, file.symbols, False, file.market, file.first_ns
        )

    def files(self) -> list[ReplayFile]:
        """Return every discovered file; ``selected`` is False where a filter left it out."""
        return list(self._files)

    # -- STREAMS --------------------------------------------------------------

    def _streams(self) -> list[Iterator[MarketEvent]]:
        """Build one event stream per file (captures of the same book run in sequence)."""
        self._registries = []
        selected = [f for f in self._files if f.selected]
        self._counters = [FileCounters(f.path, f.format) for f in selected]
        counters = dict(zip([f.path for f in selected], self._counters, strict=True))
        groups: dict[tuple[str, tuple[str, ...], str], list[ReplayFile]] = {}
        streams: list[Iterator[MarketEvent]] = []
        for file in selected:
            if file.format == binance_capture.FORMAT:
                groups.setdefault((file.venue, file.symbols, file.market), []).append(file)
                continue
            ctx = self._context(counters[file.path])
            streams.append(self._wrap(self._reader(file, ctx), ctx, file.venue))
        for (venue, _, _), group in groups.items():
            group.sort(key=lambda f: (f.first_ns or 0, str(f.path)))
            ctx = self._context(counters[group[0].path])
            reader = binance_capture.CaptureReader(ctx)
            events = reader.read_all(group, [counters[f.path] for f in group])
            streams.append(self._wrap(events, ctx, venue))
        return streams

    def _reader(self, file: ReplayFile, ctx: ReadContext) -> Iterator[MarketEvent]:
        if file.format == bybit_v5.FORMAT:
            return bybit_v5.CaptureReader(file, ctx).read()
        if file.format == lean.FORMAT_BARS:
            return lean.read_bars(file, ctx)
        if file.format == lean.FORMAT_FUNDING:
            return lean.read_funding(file, ctx)
        if file.format == funding.FORMAT_PARQUET:
            return funding.read_parquet(file, ctx)
        if file.format == funding.FORMAT_HYPERLIQUID:
            return funding.read_hyperliquid(file, ctx)
        if file.format == FORMAT_NORMALIZED:
            return _read_normalized(file, ctx)
        raise DataFormatError(file.path, f"no reader for format {file.format!r}")

    def _context(self, counters: FileCounters) -> ReadContext:
        books: dict[BookKey, LevelBook] = {}
        self._registries.append(books)
        return ReadContext(counters, books, self._accept)

    def _wrap(
        self, events: Iterator[MarketEvent], ctx: ReadContext, venue: str
    ) -> Iterator[MarketEvent]:
        if self._venues is not None and not venue:
            events = self._venue_filter(events, ctx)
        if self._start_ns is None and self._end_ns is None:
            return events
        return self._window(events, ctx)

    def _venue_filter(
        self, events: Iterator[MarketEvent], ctx: ReadContext
    ) -> Iterator[MarketEvent]:
        """Filter files that name their venue only per event (normalized recordings)."""
        venues = self._venues
        assert venues is not None
        for event in events:
            if event.venue in venues:
                yield event
            else:
                ctx.counters.withdraw(event)
                ctx.counters.ignore("filtered out by venue")

    def _window(self, events: Iterator[MarketEvent], ctx: ReadContext) -> Iterator[MarketEvent]:
        """Let through events in [start_ns, end_ns]; emit book snapshots at the start."""
        start_ns, end_ns = self._start_ns, self._end_ns
        started = start_ns is None
        resent: set[BookKey] = set()
        for event in events:
            ts = event.ts_ns
            if end_ns is not None and ts > end_ns:
                ctx.counters.withdraw(event)
                ctx.counters.outside_window += 1
                return
            if not started:
                if start_ns is not None and ts < start_ns:
                    ctx.counters.withdraw(event)
                    ctx.counters.outside_window += 1
                    continue
                started = True
                # The book already holds this first event's change: send it whole.
                for key, book in list(ctx.books.items()):
                    snapshot = book.snapshot_event(ts)
                    ctx.counters.count(snapshot)
                    resent.add(key)
                    yield snapshot
                if (
                    isinstance(event, BookDelta)
                    and not event.snapshot
                    and (event.venue, event.symbol) in resent
                ):
                    ctx.counters.withdraw(event)
                    ctx.counters.folded_into_snapshot += 1
                    continue
            yield event

    # -- PUBLIC ---------------------------------------------------------------

    def __iter__(self) -> Iterator[MarketEvent]:
        """Replay every selected file from the start as one stream ordered by ``ts_ns``."""
        streams = self._streams()
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_by_time)

    def batches(self, size: int) -> Iterator[list[MarketEvent]]:
        """Replay in lists of at most ``size`` events (the last one may be shorter)."""
        if size < 1:
            raise InvalidValue("size", size, "must be >= 1")
        events = iter(self)
        while batch := list(islice(events, size)):
            yield batch

    @property
    def stats(self) -> ReplayStats:
        """Counts of the latest replay so far: events by kind, and what was not emitted, why."""
        return ReplayStats.combine([c.freeze() for c in self._counters])

    def book(self, venue: str, symbol: str) -> OrderBook | None:
        """Return a copy of the rebuilt book, or None if it is not synced (never, or after a gap).

        The readers run at most one message ahead of the last event handed out.
        """
        key = (venue, symbol)
        found = [r[key] for r in self._registries if key in r]
        if not found:
            return None
        return max(found, key=lambda b: b.ts_ns).to_order_book()
