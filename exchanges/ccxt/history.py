"""Planning a history download: series, spans, pagination cursors, gap checks (pure).

A **series** is one venue's history of one kind for one symbol (and timeframe,
for candles and open interest). Time is in integer milliseconds since the Unix
epoch (UTC), as ccxt speaks it; every span is half-open ``[start_ms, end_ms)``.

A series is stored one UTC day per partition, and each partition says which
span of its day has been fetched (its *coverage*). Planning a download is then:
the span asked for, minus what the partitions cover, merged across days
(``plan_fetch``). Each missing span is walked in windows no wider than one page
can hold (``next_window``) and the cursor advances past what a page returned
(``advance``). Nothing here does I/O or reads the clock: ``now_ms`` is passed in.

Capabilities are data (``VENUES``): the page sizes the venues document, and the
kinds ccxt's unified API cannot fetch as history for a venue, with the reason.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from core.errors import InvalidValue, NotSupported, UnknownSymbol

MS_PER_S = 1000
MS_PER_MIN = 60 * MS_PER_S
MS_PER_HOUR = 60 * MS_PER_MIN
MS_PER_DAY = 24 * MS_PER_HOUR

# a print or candle later than this many steps after the previous one leaves a gap
GAP_TOLERANCE = 1.5


class Kind(enum.StrEnum):
    """What a series holds."""

    OHLCV = "ohlcv"
    FUNDING = "funding"
    MARK = "mark"
    INDEX = "index"
    OPEN_INTEREST = "open_interest"
    TRADES = "trades"
    LIQUIDATIONS = "liquidations"


# kinds that need a timeframe, and kinds that exist only for contracts (perps, futures)
TIMEFRAMED = frozenset({Kind.OHLCV, Kind.MARK, Kind.INDEX, Kind.OPEN_INTEREST})
CONTRACT_ONLY = frozenset(
    {Kind.FUNDING, Kind.MARK, Kind.INDEX, Kind.OPEN_INTEREST, Kind.LIQUIDATIONS}
)

# the ccxt unified method behind each kind (its ``has`` flag has the same name)
CCXT_METHOD: Mapping[Kind, str] = {
    Kind.OHLCV: "fetchOHLCV",
    Kind.FUNDING: "fetchFundingRateHistory",
    Kind.MARK: "fetchMarkOHLCV",
    Kind.INDEX: "fetchIndexOHLCV",
    Kind.OPEN_INTEREST: "fetchOpenInterestHistory",
    Kind.TRADES: "fetchTrades",
    Kind.LIQUIDATIONS: "fetchLiquidations",
}


# -- VENUES (capabilities as data) ----------------------------------------------


@dataclass(frozen=True)
class VenueHistory:
    """What one venue serves as history through ccxt, and how much per request.

    ``page_limits``: rows per request, the maximum the venue's API documents for
    the endpoint ccxt calls (the smaller one where ccxt picks among several).
    ``unsupported``: kinds this venue cannot serve as history, with the reason.
    ``funding_hours``: the usual funding interval, used for a print whose
    interval cannot be read from its neighbours. ``trades_window_ms``: the widest
    time window one trades request may ask for.
    """

    name: str
    page_limits: Mapping[Kind, int]
    unsupported: Mapping[Kind, str] = field(default_factory=dict)
    funding_hours: int = 8
    trades_window_ms: int = MS_PER_HOUR


VENUES: Mapping[str, VenueHistory] = {
    # Binance: klines 1000 (spot; USD-M 1500), markPrice/indexPriceKlines 1500, fundingRate
    # 1000, openInterestHist 500 (only its latest 30 days), aggTrades 1000 within < 1h.
    "binance": VenueHistory(
        "binance",
        {
            Kind.OHLCV: 1000,
            Kind.MARK: 1000,
            Kind.INDEX: 1000,
            Kind.FUNDING: 1000,
            Kind.OPEN_INTEREST: 500,
            Kind.TRADES: 1000,
        },
        {Kind.LIQUIDATIONS: "Binance has no public liquidation history (ccxt: fetchLiquidations)"},
    ),
    # Bybit v5: kline/mark-price-kline/index-price-kline 1000, funding/history 200,
    # open-interest 200; recent-trade serves only the latest trades, no history.
    "bybit": VenueHistory(
        "bybit",
        {
            Kind.OHLCV: 1000,
            Kind.MARK: 1000,
            Kind.INDEX: 1000,
            Kind.FUNDING: 200,
            Kind.OPEN_INTEREST: 200,
        },
        {
            Kind.TRADES: "Bybit's REST trades are the latest only (no since); "
            "its history is in the public.bybit.com archives",
            Kind.LIQUIDATIONS: "Bybit has no public liquidation history through ccxt",
        },
    ),
    # OKX v5: history-candles and mark/index candles 100, funding-rate-history 100,
    # rubik open-interest-history 100; trades page by trade id, not by time.
    "okx": VenueHistory(
        "okx",
        {
            Kind.OHLCV: 100,
            Kind.MARK: 100,
            Kind.INDEX: 100,
            Kind.FUNDING: 100,
            Kind.OPEN_INTEREST: 100,
        },
        {
            Kind.TRADES: "OKX pages its trade history by trade id, not by time (not wired)",
            Kind.LIQUIDATIONS: "ccxt 4.5 has no public fetchLiquidations for OKX",
        },
    ),
    # Hyperliquid info API: candleSnapshot 5000 (only the latest 5000 candles exist),
    # fundingHistory 500; no mark, index or open-interest history; trades are user fills.
    "hyperliquid": VenueHistory(
        "hyperliquid",
        {Kind.OHLCV: 5000, Kind.FUNDING: 500},
        {
            Kind.MARK: "Hyperliquid publishes no mark price candles",
            Kind.INDEX: "Hyperliquid publishes no index price candles",
            Kind.OPEN_INTEREST: "Hyperliquid publishes no open interest history",
            Kind.TRADES: "Hyperliquid's trade history is per user (userFills), not public",
            Kind.LIQUIDATIONS: "Hyperliquid publishes no liquidation history",
        },
        funding_hours=1,
    ),
}


# -- TIME ---------------------------------------------------------------------------

_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([smhdwMy])$")
_UNIT_MS = {
    "s": MS_PER_S,
    "m": MS_PER_MIN,
    "h": MS_PER_HOUR,
    "d": MS_PER_DAY,
    "w": 7 * MS_PER_DAY,
    "M": 30 * MS_PER_DAY,  # ccxt's convention; calendar months are 28-31 days
    "y": 365 * MS_PER_DAY,
}


def timeframe_ms(timeframe: str) -> int:
    """Return the length of a ccxt timeframe (``1m``, ``4h``, ``1M``) in milliseconds."""
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise InvalidValue("timeframe", timeframe, "not a timeframe like 1m, 15m, 1h, 1d")
    return int(match[1]) * _UNIT_MS[match[2]]


def parse_utc(text: str, field_name: str) -> int:
    """Parse ``2024-08-01`` or an ISO time (UTC unless it names its offset) into ms."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValue(field_name, text, "not a date (YYYY-MM-DD) or ISO time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * MS_PER_S)


def iso(ms: int) -> str:
    """Return ``ms`` as an ISO UTC time (to the millisecond when it has any)."""
    moment = datetime.fromtimestamp(ms / MS_PER_S, UTC)
    text = moment.isoformat(timespec="milliseconds" if ms % MS_PER_S else "seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True, order=True)
class Span:
    """A half-open time span ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise InvalidValue("end_ms", self.end_ms, f"is before start_ms {self.start_ms}")

    @property
    def empty(self) -> bool:
        return self.end_ms <= self.start_ms

    def clip(self, other: Span) -> Span:
        """Return the part of this span inside ``other`` (empty, at ``other``'s edge, if none)."""
        start = min(max(self.start_ms, other.start_ms), other.end_ms)
        return Span(start, max(start, min(self.end_ms, other.end_ms)))

    def __str__(self) -> str:
        return f"[{iso(self.start_ms)}, {iso(self.end_ms)})"


def utc_day(ms: int) -> date:
    """Return the UTC date that ``ms`` falls on."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).date()


def day_span(day: date) -> Span:
    """Return the span of one UTC day."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * MS_PER_S
    return Span(start, start + MS_PER_DAY)


def days_of(span: Span) -> list[date]:
    """Return the UTC days that ``span`` touches, in order."""
    if span.empty:
        return []
    first, last = utc_day(span.start_ms), utc_day(span.end_ms - 1)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# -- SERIES -------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One venue's history of one kind for one symbol (and timeframe where it has one)."""

    venue: str
    symbol: str
    kind: Kind
    timeframe: str | None = None

    @property
    def name(self) -> str:
        """The series' directory name: ``ohlcv_1m``, ``funding``, ``open_interest_5m``."""
        return f"{self.kind.value}_{self.timeframe}" if self.timeframe else self.kind.value

    @property
    def step_ms(self) -> int | None:
        """The spacing of a series on a fixed grid (candles, open interest), else None."""
        return timeframe_ms(self.timeframe) if self.timeframe else None

    def __str__(self) -> str:
        return f"{self.venue} {self.symbol} {self.name}"


def market_dir(symbol: str) -> str:
    """Return a symbol as a directory name: ``BTC/USDT:USDT`` -> ``BTC_USDT_USDT``.

    Not reversible in general; each partition names its exact symbol in its metadata.
    """
    return re.sub(r"[^A-Za-z0-9.\-]", "_", symbol)


@dataclass(frozen=True)
class DownloadRequest:
    """A validated request: the series to fetch and the span to fetch them over."""

    venue: str
    series: tuple[Series, ...]
    span: Span


def check_venue(venue: str) -> VenueHistory:
    """Return the venue's capabilities, or raise ``InvalidValue`` naming it."""
    found = VENUES.get(venue)
    if found is None:
        raise InvalidValue("venue", venue, f"not a history venue (known: {sorted(VENUES)})")
    return found


def check_kinds(venue: VenueHistory, kinds: Iterable[str]) -> tuple[Kind, ...]:
    """Parse kind names; raise ``InvalidValue`` or ``NotSupported`` naming the kind."""
    parsed: list[Kind] = []
    for name in kinds:
        try:
            kind = Kind(name)
        except ValueError:
            known = [k.value for k in Kind]
            raise InvalidValue("kinds", name, f"not a kind of history (known: {known})") from None
        if kind in venue.unsupported:
            raise NotSupported(f"kinds={name!r} on {venue.name}: {venue.unsupported[kind]}")
        if kind not in parsed:
            parsed.append(kind)
    if not parsed:
        raise InvalidValue("kinds", "", "name at least one kind")
    return tuple(parsed)


def check_range(since_ms: int, until_ms: int, now_ms: int) -> Span:
    """Return ``[since, min(until, now))``; raise ``InvalidValue`` for an empty or future range."""
    if until_ms <= since_ms:
        raise InvalidValue("until", iso(until_ms), f"is not after since {iso(since_ms)}")
    if since_ms >= now_ms:
        raise InvalidValue("since", iso(since_ms), f"is not before now {iso(now_ms)}")
    if since_ms < 0:
        raise InvalidValue("since", since_ms, "is before 1970")
    return Span(since_ms, min(until_ms, now_ms))


def plan_request(
    venue_name: str,
    symbols: Sequence[str],
    kinds: Sequence[str],
    timeframe: str | None,
    since_ms: int,
    until_ms: int,
    *,
    now_ms: int,
    venue_timeframes: Collection[str],
    markets: Mapping[str, bool],
) -> DownloadRequest:
    """Validate a download and return its series; raise naming the first bad field and value.

    ``venue_timeframes``: the timeframes the venue offers (ccxt's ``timeframes``).
    ``markets``: every symbol the venue lists, mapped to whether it is a contract.
    """
    venue = check_venue(venue_name)
    parsed = check_kinds(venue, kinds)
    span = check_range(since_ms, until_ms, now_ms)
    if any(k in TIMEFRAMED for k in parsed):
        if not timeframe:
            raise InvalidValue("timeframe", timeframe, "candles and open interest need one")
        if timeframe not in venue_timeframes:
            raise InvalidValue(
                "timeframe", timeframe, f"not offered by {venue.name} ({sorted(venue_timeframes)})"
            )
        timeframe_ms(timeframe)
    if not symbols:
        raise InvalidValue("symbols", "", "name at least one symbol")
    series: list[Series] = []
    for symbol in symbols:
        if symbol not in markets:
            raise UnknownSymbol(symbol, venue.name)
        for kind in parsed:
            if kind in CONTRACT_ONLY and not markets[symbol]:
                raise InvalidValue(
                    "kinds", kind.value, f"{symbol} on {venue.name} is a spot market: no {kind}"
                )
            series.append(
                Series(venue.name, symbol, kind, timeframe if kind in TIMEFRAMED else None)
            )
    return DownloadRequest(venue.name, tuple(series), span)


def settled_end(series: Series, span: Span, now_ms: int) -> Span:
    """Return ``span`` cut where the series' rows are final at ``now_ms``.

    A candle is final once it has closed: the last one kept opens a full step before
    the current step began. Prints and trades up to now are final.
    """
    step = series.step_ms
    if step is None:
        return span.clip(Span(span.start_ms, now_ms))
    return span.clip(Span(span.start_ms, (now_ms // step) * step))


# -- PLANNING ---------------------------------------------------------------------------


def plan_fetch(wanted: Span, covered: Mapping[date, Span]) -> list[Span]:
    """Return the spans of ``wanted`` that no partition covers, merged across days.

    A partition's coverage stays one contiguous span: if the missing part of a day
    is not next to what the day already covers, the hole in between is fetched too.
    """
    missing: list[Span] = []
    for day in days_of(wanted):
        want = wanted.clip(day_span(day))
        have = covered.get(day)
        if have is None or have.empty:
            gaps = [want]
        else:
            start = min(want.start_ms, have.start_ms)
            end = max(want.end_ms, have.end_ms)
            gaps = [Span(start, have.start_ms), Span(have.end_ms, end)]
        for gap in gaps:
            if gap.empty:
                continue
            if missing and missing[-1].end_ms == gap.start_ms:
                missing[-1] = Span(missing[-1].start_ms, gap.end_ms)
            else:
                missing.append(gap)
    return missing


def window_ms(series: Series, limit: int, venue: VenueHistory) -> int:
    """Return the widest window one request may ask for and still get every row in it.

    A grid series holds at most ``limit`` rows in ``limit`` steps; funding prints
    come at most once an hour; a trades window is what the venue allows.
    """
    step = series.step_ms
    if step is not None:
        return limit * step
    if series.kind is Kind.FUNDING:
        return limit * MS_PER_HOUR
    return venue.trades_window_ms


def next_window(cursor_ms: int, end_ms: int, width_ms: int) -> Span:
    """Return the next request's window: from the cursor, at most ``width_ms`` wide."""
    if width_ms < 1:
        raise InvalidValue("width_ms", width_ms, "must be >= 1")
    return Span(cursor_ms, min(end_ms, cursor_ms + width_ms))


class NoProgress(InvalidValue):
    """A full page did not move the cursor: its rows all share the window's first time."""


def advance(series: Series, window: Span, row_ms: Sequence[int], limit: int) -> int:
    """Return the cursor after a page of ``row_ms`` (sorted, inside ``window``).

    A page with fewer rows than ``limit`` exhausted its window. A full page may
    have been cut: the next request starts after its last candle or print, or at
    its last trade's millisecond (trades sharing it are fetched again and merged
    by id).
    """
    if len(row_ms) < limit:
        return window.end_ms
    last = row_ms[-1]
    step = series.step_ms
    if step is not None:
        return min(window.end_ms, max(window.start_ms + 1, last + step))
    if series.kind is Kind.FUNDING:
        return min(window.end_ms, last + 1)
    if last <= window.start_ms:
        raise NoProgress(
            "limit",
            limit,
            f"{series}: {limit} rows all at {iso(last)}; raise the page size to get past them",
        )
    return last


# -- FUNDING INTERVALS ------------------------------------------------------------------


def funding_intervals(
    prints_ms: Sequence[int], previous_ms: int | None, default_hours: int
) -> list[int]:
    """Return each print's funding interval in hours, read from its spacing.

    A print's interval is the whole hours since the print before it (the one after
    it for the first print with no known predecessor). A spacing outside 1-8 hours
    (a hole in the history, or a single print) gives the venue's usual interval.
    """
    out: list[int] = []
    for i, ts in enumerate(prints_ms):
        before = prints_ms[i - 1] if i > 0 else previous_ms
        if before is not None:
            spacing = ts - before
        elif i + 1 < len(prints_ms):
            spacing = prints_ms[i + 1] - ts
        else:
            spacing = -1
        hours = round(spacing / MS_PER_HOUR)
        out.append(hours if 1 <= hours <= 8 else default_hours)
    return out


# -- GAP CHECKS -------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A stretch with rows missing: none in ``span`` where ``expected_ms`` spacing says some."""

    span: Span
    expected_ms: int

    @property
    def missing(self) -> int:
        """About how many rows the stretch lacks."""
        return max(1, round((self.span.end_ms - self.span.start_ms) / self.expected_ms) - 1)

    def __str__(self) -> str:
        return f"no rows in {self.span} (about {self.missing} missing)"


def grid_gaps(row_ms: Sequence[int], step_ms: int, span: Span) -> list[Gap]:
    """Return the holes in a fixed-grid series over ``span`` (rows sorted, unique).

    A hole is two consecutive rows more than one step apart, no row in the first
    step of the span, or none in the last step before its end.
    """
    gaps: list[Gap] = []
    first_expected = -(-span.start_ms // step_ms) * step_ms  # the first grid time >= start
    last_expected = ((span.end_ms - 1) // step_ms) * step_ms
    if first_expected > last_expected:
        return gaps
    if not row_ms:
        return [Gap(Span(first_expected - step_ms, last_expected + step_ms), step_ms)]
    if row_ms[0] > first_expected:
        gaps.append(Gap(Span(first_expected - step_ms, row_ms[0]), step_ms))
    limit = GAP_TOLERANCE * step_ms
    for before, after in pairwise(row_ms):
        if after - before > limit:
            gaps.append(Gap(Span(before, after), step_ms))
    if row_ms[-1] < last_expected:
        gaps.append(Gap(Span(row_ms[-1], last_expected + step_ms), step_ms))
    return gaps


def funding_gaps(prints_ms: Sequence[int], intervals_h: Sequence[int], span: Span) -> list[Gap]:
    """Return the holes between funding prints: a print later than 1.5 intervals after the last.

    The interval is the earlier print's (the cadence the hole broke); the first
    print is checked against the span's start with its own interval, the last
    against the span's end.
    """
    gaps: list[Gap] = []
    if not prints_ms:
        return gaps
    for i, ts in enumerate(prints_ms):
        interval = (intervals_h[i - 1] if i > 0 else intervals_h[0]) * MS_PER_HOUR
        before = prints_ms[i - 1] if i > 0 else span.start_ms - interval
        if ts - before > GAP_TOLERANCE * interval:
            gaps.append(Gap(Span(before, ts), interval))
    last_interval = intervals_h[-1] * MS_PER_HOUR
    if span.end_ms - prints_ms[-1] > GAP_TOLERANCE * last_interval:
        gaps.append(Gap(Span(prints_ms[-1], span.end_ms), last_interval))
    return gaps
