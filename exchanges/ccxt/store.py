"""Downloaded history on disk: one Swarm events file per series and UTC day.

Layout (hive-style directories, one file per partition)::

    <root>/venue=binance/market=BTC_USDT_USDT/series=ohlcv_1m/date=2024-08-01/
        binance_BTC_USDT_USDT_ohlcv_1m_2024-08-01.swarm.parquet

Each file is a normalized recording (``exchanges.feeds.normalized``): the replay
feed reads it as it is, so ``--data <root>``, ``backtest`` and the funding
backtest read a download directly. Its rows carry ``kind`` (``bar``,
``funding``, ``mark``, ``trade``, ``liquidation``) and the exact unified
``symbol``; the directory keys are named ``market`` and ``series``, not
``symbol`` and ``kind``, so a hive-partitioned reader cannot overwrite those
columns. Prices are exact decimal strings: ccxt hands out floats, each is
stored as the Decimal of its shortest repr, which is the number the venue
published (``"43519.34000000"`` -> ``43519.34``).

What is there is read from the files themselves, no manifest: each file's
parquet metadata holds ``history.covered_from_ms``/``history.covered_until_ms``,
the span of its day that was fetched (rows or not). A file is written to a
temporary dotfile, fsynced and renamed over the old one, so a crash leaves the
previous version or the new one, never half a file; a leftover dotfile is
ignored by the replay feed and removed by the next download.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path

from core.errors import DataFormatError
from core.events import MarketEvent
from exchanges.ccxt.history import Series, Span, day_span, market_dir
from exchanges.feeds.normalized import SUFFIX, read_events, read_metadata, write_events

_log = logging.getLogger(__name__)

KEY_SYMBOL = "history.symbol"
KEY_SERIES = "history.series"
KEY_FROM = "history.covered_from_ms"
KEY_UNTIL = "history.covered_until_ms"
KEY_SOURCE = "history.source"


def series_dir(root: Path, series: Series) -> Path:
    """Return the directory holding a series' day partitions."""
    return (
        root
        / f"venue={series.venue}"
        / f"market={market_dir(series.symbol)}"
        / f"series={series.name}"
    )


def partition_path(root: Path, series: Series, day: date) -> Path:
    """Return the file of one series' day."""
    stem = f"{series.venue}_{market_dir(series.symbol)}_{series.name}_{day.isoformat()}"
    return series_dir(root, series) / f"date={day.isoformat()}" / f"{stem}{SUFFIX}"


class PartitionStore:
    """Read and write one download root's partitions."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, series: Series, day: date) -> Path:
        return partition_path(self.root, series, day)

    def remove_leftovers(self, series: Series) -> int:
        """Delete temporary files a crashed write left in the series' partitions; return how many."""
        base = series_dir(self.root, series)
        if not base.is_dir():
            return 0
        removed = 0
        for tmp in base.glob("date=*/.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
        if removed:
            _log.info("%s: removed %d unfinished temporary file(s)", series, removed)
        return removed

    def coverage(self, series: Series, day: date) -> Span | None:
        """Return the span of ``day`` this series' partition covers, or None if there is none."""
        path = self.path(series, day)
        if not path.is_file():
            return None
        meta = read_metadata(path)
        if meta.get(KEY_SYMBOL) != series.symbol or meta.get(KEY_SERIES) != series.name:
            raise DataFormatError(
                path,
                f"holds {meta.get(KEY_SYMBOL)!r} {meta.get(KEY_SERIES)!r}, "
                f"not {series.symbol!r} {series.name!r} (two symbols share one directory name)",
            )
        try:
            span = Span(int(meta[KEY_FROM]), int(meta[KEY_UNTIL]))
        except (KeyError, ValueError) as exc:
            raise DataFormatError(path, f"no readable coverage in its metadata ({exc})") from None
        if span.clip(day_span(day)) != span:
            raise DataFormatError(path, f"coverage {span} is outside its day {day}")
        return span

    def coverages(self, series: Series, days: Iterable[date]) -> dict[date, Span]:
        """Return the coverage of each of ``days`` that has a partition."""
        found: dict[date, Span] = {}
        for day in days:
            span = self.coverage(series, day)
            if span is not None:
                found[day] = span
        return found

    def events(self, series: Series, day: date) -> list[MarketEvent]:
        """Return the rows of a day's partition (none if it has no file)."""
        path = self.path(series, day)
        return list(read_events(path)) if path.is_file() else []

    def write(
        self,
        series: Series,
        day: date,
        events: Iterable[MarketEvent],
        covered: Span,
        source: Mapping[str, str],
    ) -> Path:
        """Write a day's whole partition atomically (it replaces the previous file)."""
        path = self.path(series, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = {
            KEY_SYMBOL: series.symbol,
            KEY_SERIES: series.name,
            KEY_FROM: str(covered.start_ms),
            KEY_UNTIL: str(covered.end_ms),
            **source,
        }
        write_events(path, events, metadata=metadata)
        return path
