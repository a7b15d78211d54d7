"""Performance figures on hand-computed series."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from backtest.metrics import (
    MIN_RATIO_PERIODS,
    NS_PER_YEAR,
    cvar,
    fold_bounds,
    max_drawdown,
    performance,
    period_returns,
    profit_factor,
    slice_series,
    total_series,
)
from core.errors import InvalidValue

DAY = 86_400_000_000_000


def _series(*values: str) -> list[tuple[int, Decimal]]:
    return [(i * DAY, Decimal(v)) for i, v in enumerate(values)]


def test_performance_when_known_series_then_figures_match_hand_computation() -> None:
    points = _series("100", "110", "99", "108.9")
    perf = performance(
        points, traded_notional=Decimal(50), fees=Decimal("1.5"), min_periods=2, min_span_ns=0
    )
    returns = [0.1, -0.1, 0.1]
    mean = sum(returns) / 3
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 2)
    per_year = NS_PER_YEAR / DAY
    assert perf.total_return == Decimal("0.089")
    assert perf.pnl == Decimal("8.9")
    assert perf.sharpe == pytest.approx(mean / std * math.sqrt(per_year))
    downside = math.sqrt(0.01 / 3)
    assert perf.sortino == pytest.approx(mean / downside * math.sqrt(per_year))
    assert perf.max_drawdown == pytest.approx(0.1)
    assert perf.profit_factor == pytest.approx((10 + 9.9) / 11)
    assert perf.cvar_95 == pytest.approx(-0.1)
    assert perf.turnover == pytest.approx(0.5)
    assert perf.fees == Decimal("1.5")


def test_performance_when_flat_series_then_ratios_undefined_not_zero() -> None:
    perf = performance(_series("100", "100", "100"))
    assert perf.sharpe is None and perf.sortino is None and perf.profit_factor is None
    assert perf.max_drawdown == 0.0
    assert perf.cvar_95 == 0.0


def test_performance_when_only_gains_then_no_sortino_and_no_profit_factor() -> None:
    perf = performance(_series("100", "101", "103"), min_periods=2, min_span_ns=0)
    assert perf.sortino is None and perf.profit_factor is None
    assert perf.sharpe is not None and perf.sharpe > 0


def test_performance_when_six_minutes_of_returns_then_ratios_na_with_the_reason() -> None:
    # The case: one-second samples over six minutes annualized to a Sharpe of -578.
    second = 1_000_000_000
    points = [(i * second, Decimal(100) - Decimal(i % 7) / 10) for i in range(361)]
    perf = performance(points)
    assert perf.sharpe is None and perf.sortino is None
    assert perf.ratio_note == "n/a: 6.0 min of returns < 7.0 d (minimum span)"
    assert perf.as_dict()["ratio_note"] == perf.ratio_note
    assert perf.max_drawdown > 0  # the other figures are still measured


def test_performance_when_fewer_returns_than_minimum_then_ratios_na_naming_the_count() -> None:
    perf = performance(_series(*[str(100 + i % 3) for i in range(MIN_RATIO_PERIODS)]))
    assert perf.sharpe is None
    assert (
        perf.ratio_note
        == f"n/a: {MIN_RATIO_PERIODS - 1} returns < {MIN_RATIO_PERIODS} (minimum sample)"
    )


def test_performance_when_enough_returns_over_a_week_then_ratios_measured() -> None:
    perf = performance(_series(*[str(100 + i % 3) for i in range(MIN_RATIO_PERIODS + 1)]))
    assert perf.ratio_note is None
    assert perf.sharpe is not None and perf.sortino is not None


def test_cvar_when_forty_returns_then_mean_of_worst_two() -> None:
    returns = period_returns(_series(*[str(100 + i) for i in range(41)]))
    values = sorted(returns)
    assert cvar(returns) == pytest.approx((values[0] + values[1]) / 2)


def test_max_drawdown_when_peak_then_trough_then_fraction_of_peak() -> None:
    assert max_drawdown(_series("100", "200", "150", "300", "240")) == pytest.approx(0.25)
    assert profit_factor(_series("100", "90")) == 0.0


@pytest.mark.parametrize(
    ("points", "field"),
    [
        ([], "points"),
        ([(0, Decimal(0))], "points[0].equity"),
        ([(5, Decimal(1)), (4, Decimal(1))], "points.ts_ns"),
        ([(0, Decimal("NaN"))], "points.equity"),
    ],
)
def test_performance_when_bad_series_then_invalid_value_names_the_field(
    points: list[tuple[int, Decimal]], field: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        performance(points)
    assert caught.value.field == field


def test_folds_when_split_then_consecutive_windows_cover_the_span() -> None:
    assert fold_bounds(0, 10, 3) == [(0, 3), (3, 6), (6, 10)]
    with pytest.raises(InvalidValue):
        fold_bounds(0, 10, 0)
    points = _series("1", "2", "3", "4")
    assert slice_series(points, DAY, 3 * DAY) == points[1:]
    assert slice_series(points, DAY + 1, 2 * DAY) == points[1:3]


def test_total_series_when_times_differ_then_refused() -> None:
    a = _series("1", "2")
    assert total_series({"a": a, "b": a})[-1] == (DAY, Decimal(4))
    with pytest.raises(InvalidValue):
        total_series({"a": a, "b": a[:1]})
