"""Walk a series' history through a ccxt exchange into day partitions: resumable, idempotent.

``HistoryDownloader(client, store, clock)`` fetches what the partitions do not
cover yet (``history.plan_fetch``), page by page through ccxt's unified methods
with ``since``/``limit`` and an explicit ``until`` per window, so every venue
answers the same question whatever order it pages in. ccxt's own rate limiter
paces the requests (the client is built with ``enableRateLimit``); a temporary
failure is retried with backoff by ``exchanges.ccxt_errors.call_mapped``.

A day's partition is written as soon as the cursor has passed its end, and the
day being fetched every ``flush_pages`` pages: a crash loses at most the pages
since the last write, and a re-run starts where the files end. A re-run over a
span the files cover sends no request at all.

After the walk, the rows over the asked span are read back from the files and
checked for holes (``history.grid_gaps``, ``history.funding_gaps``); trades and
liquidations have no cadence to check against.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from core.clock import Clock
from core.errors import ExchangeProtocolError, InvalidValue
from core.events import Bar, FundingEvent, Liquidation, MarketEvent, MarkEvent, TradeTick
from core.money import decimal_from_float
from exchanges.ccxt.history import (
    CCXT_METHOD,
    MS_PER_HOUR,
    Gap,
    Kind,
    Series,
    Span,
    VenueHistory,
    advance,
    check_venue,
    day_span,
    days_of,
    funding_gaps,
    funding_intervals,
    grid_gaps,
    next_window,
    plan_fetch,
    settled_end,
    utc_day,
    window_ms,
)
from exchanges.ccxt.store import KEY_SOURCE, PartitionStore
from exchanges.ccxt_errors import CallKind, ErrorContext, Redactor, RetryPolicy, Sleep, call_mapped

_log = logging.getLogger(__name__)
_NS_PER_MS = 1_000_000

# funding prints whose venue answer carries the mark price at settlement, and where
MARK_AT_FUNDING: Mapping[str, str] = {"binance": "markPrice"}


class Progress(Protocol):
    """Told how far each series has got (the CLI draws bars from it)."""

    def start(self, series: Series, total_ms: int) -> None: ...

    def advance(self, series: Series, done_ms: int, rows: int) -> None: ...


@dataclass
class SeriesResult:
    """What one series' download did."""

    series: Series
    span: Span
    requests: int = 0
    rows: int = 0
    partitions: list[str] = field(default_factory=list)
    fetched: list[Span] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    checked: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "series": str(self.series),
            "span": str(self.span),
            "requests": self.requests,
            "rows": self.rows,
            "fetched": [str(s) for s in self.fetched],
            "partitions_written": len(self.partitions),
            "gaps": [str(g) for g in self.gaps] if self.checked else None,
        }


def _ccxt_version() -> str:
    try:
        return version("ccxt")
    except PackageNotFoundError:  # pragma: no cover - ccxt is a dependency
        return "unknown"


def _dec(value: Any, name: str, series: Series) -> Decimal:
    found = decimal_from_float(value, name)
    if found is None or not found.is_finite():
        raise ExchangeProtocolError(f"{series}: {name}={value!r} is not a number")
    return found


# -- ROWS -> EVENTS -----------------------------------------------------------------


def _candle(series: Series, row: Sequence[Any]) -> tuple[int, MarketEvent]:
    step = series.step_ms
    assert step is not None
    opened = int(row[0])
    close_ns = (opened + step) * _NS_PER_MS  # a bar is an event when it closes
    v, s = series.venue, series.symbol
    if series.kind is Kind.OHLCV:
        o, h, lo, c = (
            _dec(row[i], n, series) for i, n in ((1, "open"), (2, "high"), (3, "low"), (4, "close"))
        )
        volume = Decimal(0) if row[5] is None else _dec(row[5], "volume", series)
        return opened, Bar(close_ns, v, s, o, h, lo, c, volume, step // 1000)
    close = _dec(row[4], "close", series)
    if series.kind is Kind.MARK:
        return opened, MarkEvent(close_ns, v, s, close)
    return opened, MarkEvent(close_ns, v, s, None, index_price=close)


def _timestamp(entry: Mapping[str, Any], series: Series) -> int:
    ts = entry.get("timestamp")
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        raise ExchangeProtocolError(f"{series}: a row without a timestamp: {entry!r}")
    return int(ts)


def _side(entry: Mapping[str, Any], series: Series) -> Any:
    side = entry.get("side")
    if side not in ("buy", "sell"):
        raise ExchangeProtocolError(f"{series}: side={side!r} is neither buy nor sell")
    return side


def to_rows(series: Series, raw: Sequence[Any]) -> list[tuple[int, Any]]:
    """Return (venue time in ms, ccxt row) sorted by time; candles keep their open time."""
    if series.step_ms is not None and series.kind is not Kind.OPEN_INTEREST:
        rows = [(int(r[0]), r) for r in raw]
    else:
        rows = [(_timestamp(r, series), r) for r in raw]
    rows.sort(key=lambda pair: pair[0])
    return rows


def to_event(series: Series, ts_ms: int, row: Any, interval_hours: int | None) -> MarketEvent:
    """Turn one ccxt row into the event the replay feed reads."""
    v, s, ts_ns = series.venue, series.symbol, ts_ms * _NS_PER_MS
    kind = series.kind
    if kind in (Kind.OHLCV, Kind.MARK, Kind.INDEX):
        return _candle(series, row)[1]
    if kind is Kind.FUNDING:
        mark = None
        info_key = MARK_AT_FUNDING.get(v)
        info = row.get("info")
        if info_key and isinstance(info, Mapping) and info.get(info_key) not in (None, "", "0"):
            mark = _dec(info[info_key], "markPrice", series)
        assert interval_hours is not None
        rate = _dec(row.get("fundingRate"), "fundingRate", series)
        return FundingEvent(ts_ns, v, s, rate, Decimal(interval_hours), mark)
    if kind is Kind.OPEN_INTEREST:
        amount = row.get("openInterestAmount")
        return MarkEvent(
            ts_ns, v, s, None, open_interest=_dec(amount, "openInterestAmount", series)
        )
    if kind is Kind.TRADES:
        trade_id = row.get("id")
        return TradeTick(
            ts_ns,
            v,
            s,
            _dec(row.get("price"), "price", series),
            _dec(row.get("amount"), "amount", series),
            _side(row, series),
            None if trade_id is None else str(trade_id),
        )
    return Liquidation(
        ts_ns,
        v,
        s,
        _side(row, series),
        _dec(row.get("price"), "price", series),
        _dec(row.get("contracts") or row.get("baseValue"), "contracts", series),
        "recorded",
    )


def event_ms(series: Series, event: MarketEvent) -> int:
    """Return the venue time (ms) a stored event was fetched under: a candle's open time."""
    ms = event.ts_ns // _NS_PER_MS
    if series.kind in (Kind.OHLCV, Kind.MARK, Kind.INDEX):
        step = series.step_ms
        assert step is not None
        return ms - step
    return ms


def event_key(series: Series, event: MarketEvent) -> tuple[Any, ...]:
    """Return what makes a row unique within its series (a trade: its time and id)."""
    if isinstance(event, TradeTick):
        return (event.ts_ns, event.trade_id, event.price, event.amount, event.side)
    if isinstance(event, Liquidation):
        return (event.ts_ns, event.side, event.price, event.amount)
    return (event.ts_ns,)


# -- THE WALK -----------------------------------------------------------------------


Fetch = Callable[[Series, Span, int], Awaitable[list[Any]]]


class HistoryDownloader:
    """Download series of one venue through ``client`` (a ccxt async exchange) into ``store``."""

    def __init__(
        self,
        client: Any,
        store: PartitionStore,
        clock: Clock,
        *,
        progress: Progress | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        page_limits: Mapping[Kind, int] | None = None,
        flush_pages: int = 50,
    ) -> None:
        if flush_pages < 1:
            raise InvalidValue("flush_pages", flush_pages, "must be >= 1")
        self.client = client
        self.venue: VenueHistory = check_venue(str(client.id))
        self.store = store
        self.clock = clock
        self.progress = progress
        self.retry = retry or RetryPolicy(attempts=5, base_delay=1.0, max_delay=30.0)
        self.sleep = sleep
        self.page_limits = {**self.venue.page_limits, **(page_limits or {})}
        self.flush_pages = flush_pages
        self.requests = 0
        self._source = {KEY_SOURCE: f"ccxt {_ccxt_version()} {self.venue.name}"}

    # -- requests ---------------------------------------------------------------

    async def _call(
        self, series: Series, operation: str, call: Callable[[], Awaitable[Any]]
    ) -> Any:
        async def counted() -> Any:
            self.requests += 1
            return await call()

        context = ErrorContext(
            self.venue.name, operation, CallKind.READ, Redactor(), symbol=series.symbol
        )
        if self.sleep is None:
            import asyncio

            return await call_mapped(counted, context, self.retry, asyncio.sleep)
        return await call_mapped(counted, context, self.retry, self.sleep)

    async def fetch_page(self, series: Series, window: Span, limit: int) -> list[Any]:
        """Ask ccxt for one page: rows from ``window.start`` to before ``window.end``."""
        c, s, since = self.client, series.symbol, window.start_ms
        params = {"until": window.end_ms - 1}
        kind, tf = series.kind, series.timeframe
        calls: dict[Kind, Callable[[], Awaitable[Any]]] = {
            Kind.OHLCV: lambda: c.fetch_ohlcv(s, tf, since, limit, params),
            Kind.MARK: lambda: c.fetch_mark_ohlcv(s, tf, since, limit, params),
            Kind.INDEX: lambda: c.fetch_index_ohlcv(s, tf, since, limit, params),
            Kind.FUNDING: lambda: c.fetch_funding_rate_history(s, since, limit, params),
            Kind.OPEN_INTEREST: lambda: c.fetch_open_interest_history(s, tf, since, limit, params),
            Kind.TRADES: lambda: c.fetch_trades(s, since, limit, params),
            Kind.LIQUIDATIONS: lambda: c.fetch_liquidations(s, since, limit, params),
        }
        answer = await self._call(series, CCXT_METHOD[kind], calls[kind])
        if not isinstance(answer, list):
            raise ExchangeProtocolError(f"{series}: {CCXT_METHOD[kind]} answered {type(answer)}")
        return answer

    # -- one series ----------------------------------------------------------------

    async def download(self, series: Series, span: Span) -> SeriesResult:
        """Fetch what the partitions lack of ``series`` over ``span``; check it for gaps."""
        if not self.client.has.get(CCXT_METHOD[series.kind]):
            raise InvalidValue(
                "kinds",
                series.kind.value,
                f"ccxt's {self.venue.name} has no {CCXT_METHOD[series.kind]}",
            )
        span = settled_end(series, span, self.clock.now_ms())
        result = SeriesResult(series, span)
        self.store.remove_leftovers(series)
        days = days_of(span)
        covered = self.store.coverages(series, days)
        missing = plan_fetch(span, covered)
        total = sum(m.end_ms - m.start_ms for m in missing)
        if self.progress is not None:
            self.progress.start(series, total)
        done, before = 0, self.requests
        for gap in missing:
            await self._walk(series, gap, covered, result, done)
            done += gap.end_ms - gap.start_ms
        result.fetched = missing
        result.requests = self.requests - before
        self._check(series, span, result)
        return result

    async def _walk(
        self,
        series: Series,
        wanted: Span,
        covered: dict[date, Span],
        result: SeriesResult,
        done_before: int,
    ) -> None:
        limit = self.page_limits[series.kind]
        width = window_ms(series, limit, self.venue)
        buffers: dict[date, list[tuple[int, Any]]] = {}
        previous = self._previous_print(series, wanted) if series.kind is Kind.FUNDING else None
        cursor = wanted.start_ms
        flushed_to = cursor
        pages = 0
        while cursor < wanted.end_ms:
            window = next_window(cursor, wanted.end_ms, width)
            raw = await self.fetch_page(series, window, limit)
            rows = [
                (ts, r) for ts, r in to_rows(series, raw) if window.start_ms <= ts < window.end_ms
            ]
            for ts, row in rows:
                buffers.setdefault(utc_day(ts), []).append((ts, row))
            cursor = advance(series, window, [ts for ts, _ in rows], limit)
            pages += 1
            result.rows += len(rows)
            if self.progress is not None:
                self.progress.advance(series, done_before + cursor - wanted.start_ms, len(rows))
            complete = [
                d
                for d in sorted(buffers.keys() | set(days_of(Span(flushed_to, cursor))))
                if day_span(d).end_ms <= cursor
            ]
            partial = pages % self.flush_pages == 0
            if complete or partial:
                previous = self._flush(
                    series, Span(flushed_to, cursor), buffers, covered, result, previous
                )
                flushed_to = cursor
        if flushed_to < cursor:
            self._flush(series, Span(flushed_to, cursor), buffers, covered, result, previous)

    def _previous_print(self, series: Series, wanted: Span) -> int | None:
        """Return the last stored print before ``wanted`` within a day of it (for its interval)."""
        for day in (utc_day(wanted.start_ms), utc_day(wanted.start_ms) - timedelta(days=1)):
            before = [
                event_ms(series, e)
                for e in self.store.events(series, day)
                if event_ms(series, e) < wanted.start_ms
            ]
            if before:
                return max(before)
        return None

    def _flush(
        self,
        series: Series,
        fetched: Span,
        buffers: dict[date, list[tuple[int, Any]]],
        covered: dict[date, Span],
        result: SeriesResult,
        previous: int | None,
    ) -> int | None:
        """Write every day ``fetched`` touched: old rows and new, coverage extended."""
        for day in days_of(fetched):
            new_rows = sorted(buffers.pop(day, []), key=lambda pair: pair[0])
            intervals: list[int | None] = [None] * len(new_rows)
            if series.kind is Kind.FUNDING:
                stamps = [ts for ts, _ in new_rows]
                intervals = list(funding_intervals(stamps, previous, self.venue.funding_hours))
                if stamps:
                    previous = stamps[-1]
            merged: dict[tuple[Any, ...], MarketEvent] = {}
            for event in self.store.events(series, day):
                merged[event_key(series, event)] = event
            for (ts, row), hours in zip(new_rows, intervals, strict=True):
                event = to_event(series, ts, row, hours)
                merged[event_key(series, event)] = event
            part = fetched.clip(day_span(day))
            old = covered.get(day)
            if old is not None and not old.empty:
                if part.start_ms > old.end_ms or part.end_ms < old.start_ms:
                    raise InvalidValue(
                        "coverage", str(old), f"{series} {day}: {part} is not next to it"
                    )
                part = Span(min(old.start_ms, part.start_ms), max(old.end_ms, part.end_ms))
            events = sorted(merged.values(), key=lambda e: e.ts_ns)
            path = self.store.write(series, day, events, part, self._source)
            covered[day] = part
            result.partitions.append(str(path))
        return previous

    def _check(self, series: Series, span: Span, result: SeriesResult) -> None:
        """Read the span back from the files and report its holes."""
        if series.kind in (Kind.TRADES, Kind.LIQUIDATIONS):
            result.checked = False
            return
        stamps: list[int] = []
        hours: list[int] = []
        for day in days_of(span):
            for event in self.store.events(series, day):
                ms = event_ms(series, event)
                if span.start_ms <= ms < span.end_ms:
                    stamps.append(ms)
                    if isinstance(event, FundingEvent):
                        hours.append(int(event.interval_hours))
        step = series.step_ms
        if step is not None:
            result.gaps = grid_gaps(stamps, step, span)
        else:
            result.gaps = funding_gaps(stamps, hours, span)
        for gap in result.gaps:
            _log.warning("%s: %s", series, gap)


__all__ = ["MS_PER_HOUR", "HistoryDownloader", "Progress", "SeriesResult", "event_ms", "to_event"]
