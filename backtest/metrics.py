"""Performance figures of an equity series: pure, no Ray, no I/O.

``performance(points, ...)`` takes an equity series sampled on market time
(``(ts_ns, equity)`` pairs, equity a ``Decimal`` in the unit of account) and
returns a ``Performance`` with:

- ``total_return``: ``equity_end / equity_start - 1`` (exact ``Decimal``);
- ``sharpe``: mean / standard deviation (ddof 1) of the period returns,
  annualized by ``sqrt(periods per year)``; ``None`` with a zero deviation (no
  risk taken: the ratio is undefined, not 0);
- ``sortino``: mean period return / downside deviation
  (``sqrt(mean(min(r, 0)^2))``), annualized the same way; ``None`` without a
  losing period;
- ``ratio_note``: why Sharpe and Sortino are ``None`` (n/a) although the
  series has returns: an annualized ratio needs at least ``MIN_RATIO_PERIODS``
  returns spanning ``MIN_RATIO_SPAN_NS`` of market time. Below that it is
  noise scaled up by ``sqrt(periods per year)``: six minutes of one-second
  returns gave -578 and twelve hours of half-hour returns +18.7 on this
  project's data. The note names the shortfall, e.g. ``"n/a: 24 returns < 30"``;
- ``max_drawdown``: the largest fall from a running peak, as a fraction of
  that peak (0 when the equity never fell);
- ``profit_factor``: gross gains / gross losses of the period P&L; ``None``
  without a losing period;
- ``cvar_95``: expected shortfall, the mean of the worst 5% of period returns
  (at least one period); negative is a loss;
- ``turnover``: traded notional / starting equity.

The period is the sampling step of the series; the annualization uses the
series' own median step. Ratios are floats (statistics, not money); money
(P&L, fees, funding, notional) stays ``Decimal``. Bad input is an
``InvalidValue`` naming the field and the value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from core.errors import InvalidValue

NS_PER_YEAR = 365 * 24 * 3600 * 1_000_000_000
CVAR_LEVEL = 0.95
MIN_RATIO_PERIODS = 30
"""Returns an annualized Sharpe or Sortino needs (a standard rule of thumb for a mean's error)."""
MIN_RATIO_SPAN_NS = 7 * 24 * 3600 * 1_000_000_000
"""Market time those returns must span: less than a week says nothing about a year."""

EquityPoint = tuple[int, Decimal]


@dataclass(frozen=True)
class Performance:
    """The figures of one equity series (see the module doc for each definition)."""

    start_ns: int
    end_ns: int
    periods: int
    equity_start: Decimal
    equity_end: Decimal
    pnl: Decimal
    total_return: Decimal
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    profit_factor: float | None
    cvar_95: float | None
    turnover: float
    traded_notional: Decimal
    fees: Decimal
    funding: Decimal
    ratio_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-safe values (money as exact strings, ratios rounded)."""
        return {
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "periods": self.periods,
            "equity_start": str(self.equity_start),
            "equity_end": str(self.equity_end),
            "pnl": str(self.pnl),
            "total_return": _round(float(self.total_return)),
            "sharpe": _round(self.sharpe),
            "sortino": _round(self.sortino),
            "max_drawdown": _round(self.max_drawdown),
            "profit_factor": _round(self.profit_factor),
            "cvar_95": _round(self.cvar_95),
            "turnover": _round(self.turnover),
            "traded_notional": str(self.traded_notional),
            "fees": str(self.fees),
            "funding": str(self.funding),
            "ratio_note": self.ratio_note,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 8)


def _check_series(points: Sequence[EquityPoint]) -> None:
    if not points:
        raise InvalidValue("points", points, "an equity series needs at least one point")
    previous: int | None = None
    for ts_ns, equity in points:
        if previous is not None and ts_ns < previous:
            raise InvalidValue("points.ts_ns", ts_ns, f"goes back in time (after {previous})")
        if not isinstance(equity, Decimal) or not equity.is_finite():
            raise InvalidValue("points.equity", equity, "must be a finite Decimal")
        previous = ts_ns
    if points[0][1] <= 0:
        raise InvalidValue("points[0].equity", points[0][1], "the starting equity must be > 0")


def period_returns(points: Sequence[EquityPoint]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Return the simple returns between consecutive points (a non-positive base gives -1)."""
    equity = np.array([float(e) for _, e in points], dtype=np.float64)
    if len(equity) < 2:
        return np.zeros(0, dtype=np.float64)
    base = equity[:-1]
    safe = np.where(base > 0, base, 1.0)
    returns = np.where(base > 0, equity[1:] / safe - 1.0, -1.0)
    return returns.astype(np.float64)


def periods_per_year(points: Sequence[EquityPoint]) -> float | None:
    """Return how many sampling steps make a year (median step); None without a positive step."""
    steps = [b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0]]
    if not steps:
        return None
    return NS_PER_YEAR / float(np.median(np.array(steps, dtype=np.float64)))


def sharpe_ratio(returns: np.ndarray[Any, np.dtype[np.float64]], per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    deviation = float(np.std(returns, ddof=1))
    if deviation == 0.0 or not math.isfinite(deviation):
        return None
    return float(np.mean(returns)) / deviation * math.sqrt(per_year)


def sortino_ratio(returns: np.ndarray[Any, np.dtype[np.float64]], per_year: float) -> float | None:
    if len(returns) < 2:
        return None
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0.0:
        return None
    return float(np.mean(returns)) / downside * math.sqrt(per_year)


def max_drawdown(points: Sequence[EquityPoint]) -> float:
    """Return the largest fall from a running peak as a fraction of the peak (0..1, or more)."""
    equity = np.array([float(e) for _, e in points], dtype=np.float64)
    peaks = np.maximum.accumulate(equity)
    safe = np.where(peaks > 0, peaks, 1.0)
    falls = np.where(peaks > 0, (peaks - equity) / safe, 0.0)
    return float(np.max(falls)) if len(falls) else 0.0


def drawdown_series(points: Sequence[EquityPoint]) -> list[tuple[int, float]]:
    """Return ``(ts_ns, drawdown)`` per point: the fall from the running peak (0 at a new high)."""
    out: list[tuple[int, float]] = []
    peak: float | None = None
    for ts_ns, equity in points:
        value = float(equity)
        peak = value if peak is None else max(peak, value)
        out.append((ts_ns, (peak - value) / peak if peak > 0 else 0.0))
    return out


def profit_factor(points: Sequence[EquityPoint]) -> float | None:
    """Return gross period gains over gross period losses; None without a loss."""
    gains = losses = Decimal(0)
    for (_, before), (_, after) in itertools.pairwise(points):
        change = after - before
        if change > 0:
            gains += change
        else:
            losses -= change
    if losses == 0:
        return None
    return float(gains / losses)


def cvar(returns: np.ndarray[Any, np.dtype[np.float64]], level: float = CVAR_LEVEL) -> float | None:
    """Return the mean of the worst ``1 - level`` share of ``returns`` (at least one); None if empty."""
    if not 0.0 < level < 1.0:
        raise InvalidValue("level", level, "must be strictly between 0 and 1")
    if len(returns) == 0:
        return None
    # Rounded first: 40 * (1 - 0.95) is 2.0000000000000004 in floats, and the tail is 2.
    count = max(1, math.ceil(round(len(returns) * (1.0 - level), 9)))
    worst = np.sort(returns)[:count]
    return float(np.mean(worst))


def _format_span(span_ns: int) -> str:
    hours = span_ns / 3_600_000_000_000
    if hours < 1:
        return f"{span_ns / 60_000_000_000:.1f} min"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def ratio_sample_note(
    points: Sequence[EquityPoint],
    *,
    min_periods: int = MIN_RATIO_PERIODS,
    min_span_ns: int = MIN_RATIO_SPAN_NS,
) -> str | None:
    """Return why the series is too short for an annualized ratio, or None if it is long enough."""
    if min_periods < 2:
        raise InvalidValue("min_periods", min_periods, "a deviation needs at least 2 returns")
    returns = max(0, len(points) - 1)
    span = points[-1][0] - points[0][0] if points else 0
    if returns < min_periods:
        return f"n/a: {returns} returns < {min_periods} (minimum sample)"
    if span < min_span_ns:
        return f"n/a: {_format_span(span)} of returns < {_format_span(min_span_ns)} (minimum span)"
    return None


def performance(
    points: Sequence[EquityPoint],
    *,
    traded_notional: Decimal = Decimal(0),
    fees: Decimal = Decimal(0),
    funding: Decimal = Decimal(0),
    min_periods: int = MIN_RATIO_PERIODS,
    min_span_ns: int = MIN_RATIO_SPAN_NS,
) -> Performance:
    """Return the figures of the equity series ``points`` (see the module doc)."""
    _check_series(points)
    if traded_notional < 0:
        raise InvalidValue("traded_notional", traded_notional, "must be >= 0")
    returns = period_returns(points)
    per_year = periods_per_year(points)
    note = ratio_sample_note(points, min_periods=min_periods, min_span_ns=min_span_ns)
    if note is None and per_year is None:
        note = "n/a: no positive time step between samples"
    ratios = note is None and per_year is not None
    start, end = points[0][1], points[-1][1]
    return Performance(
        start_ns=points[0][0],
        end_ns=points[-1][0],
        periods=len(returns),
        equity_start=start,
        equity_end=end,
        pnl=end - start,
        total_return=end / start - 1,
        sharpe=sharpe_ratio(returns, per_year) if ratios and per_year else None,
        sortino=sortino_ratio(returns, per_year) if ratios and per_year else None,
        max_drawdown=max_drawdown(points),
        profit_factor=profit_factor(points),
        cvar_95=cvar(returns),
        turnover=float(traded_notional / start),
        traded_notional=traded_notional,
        fees=fees,
        funding=funding,
        ratio_note=note,
    )


def total_series(series: Mapping[str, Sequence[EquityPoint]]) -> list[EquityPoint]:
    """Return the sum of several equity series sampled at the same times (checked)."""
    if not series:
        raise InvalidValue("series", {}, "no series to add up")
    items = list(series.items())
    first_name, first = items[0]
    times = [ts for ts, _ in first]
    for name, points in items[1:]:
        if [ts for ts, _ in points] != times:
            raise InvalidValue(
                f"series[{name}]", len(points), f"not sampled at the times of {first_name!r}"
            )
    return [
        (ts, sum((points[i][1] for _, points in items), Decimal(0))) for i, ts in enumerate(times)
    ]


def fold_bounds(start_ns: int, end_ns: int, folds: int) -> list[tuple[int, int]]:
    """Split ``[start_ns, end_ns]`` into ``folds`` consecutive windows of equal length."""
    if folds < 1:
        raise InvalidValue("folds", folds, "must be >= 1")
    if end_ns < start_ns:
        raise InvalidValue("end_ns", end_ns, f"before start_ns {start_ns}")
    span = end_ns - start_ns
    edges = [start_ns + span * i // folds for i in range(folds + 1)]
    return [(edges[i], edges[i + 1]) for i in range(folds)]


def slice_series(points: Sequence[EquityPoint], start_ns: int, end_ns: int) -> list[EquityPoint]:
    """Return the points in ``[start_ns, end_ns]``, starting from the last point at or before
    ``start_ns`` (the equity the window starts with)."""
    before = [p for p in points if p[0] <= start_ns]
    inside = [p for p in points if start_ns < p[0] <= end_ns]
    head = [before[-1]] if before else []
    return head + inside
