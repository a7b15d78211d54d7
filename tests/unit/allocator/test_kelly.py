"""Closed forms of the Kelly fractions, the constrained optimum where it binds, and bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from allocator.kelly import (
    UnboundedGrowth,
    discrete_growth,
    discrete_kelly,
    gaussian_growth,
    gaussian_kelly,
)
from core.errors import InvalidValue

COV = np.array([[0.04, 0.01], [0.01, 0.09]])


# -- DISCRETE -------------------------------------------------------------------


def test_discrete_kelly_when_p_is_0_6_and_even_odds_stakes_0_20_growing_0_020136() -> None:
    f = discrete_kelly(0.6, 1.0)
    assert f == pytest.approx(0.20, abs=1e-12)
    assert round(discrete_growth(0.6, 1.0, f), 6) == 0.020136


def test_discrete_kelly_when_odds_are_2_to_1_gives_p_minus_q_over_b() -> None:
    assert discrete_kelly(0.4, 2.0) == pytest.approx(0.4 - 0.6 / 2.0)


def test_discrete_kelly_stake_beats_every_other_stake_on_a_grid() -> None:
    p, b = 0.55, 1.5
    best = discrete_growth(p, b, discrete_kelly(p, b))
    for f in np.linspace(0.0, 0.99, 991):
        assert discrete_growth(p, b, float(f)) <= best + 1e-15


@pytest.mark.parametrize(("p", "b"), [(0.5, 1.0), (0.4, 1.0), (0.0, 3.0), (0.3, 2.0)])
def test_discrete_kelly_when_bet_has_no_edge_stakes_nothing(p: float, b: float) -> None:
    assert discrete_kelly(p, b) == 0.0


@pytest.mark.parametrize(("p", "b"), [(-0.1, 1.0), (1.1, 1.0), (math.nan, 1.0), (0.6, 0.0)])
def test_discrete_kelly_when_p_or_b_is_out_of_range_raises_invalid_value(
    p: float, b: float
) -> None:
    with pytest.raises(InvalidValue):
        discrete_kelly(p, b)


def test_discrete_growth_when_staking_everything_on_a_losable_bet_is_minus_infinity() -> None:
    assert discrete_growth(0.6, 1.0, 1.0) == -math.inf
    assert discrete_growth(1.0, 1.0, 1.0) == pytest.approx(math.log(2.0))
    with pytest.raises(InvalidValue):
        discrete_growth(0.6, 1.0, 1.5)


# -- GAUSSIAN UNCONSTRAINED ---------------------------------------------------------


def test_gaussian_kelly_single_asset_gives_excess_drift_over_variance() -> None:
    f = gaussian_kelly([0.08], [[0.04]], risk_free=0.02)
    assert f == pytest.approx([0.06 / 0.04])


def test_gaussian_kelly_two_assets_unconstrained_matches_hand_computed_inverse() -> None:
    # C^-1 = [[0.09, -0.01], [-0.01, 0.04]] / 0.0035 ; M - R = [0.1, 0.05]
    f = gaussian_kelly([0.12, 0.07], COV, risk_free=0.02)
    assert f == pytest.approx([0.0085 / 0.0035, 0.001 / 0.0035], rel=1e-12)


def test_gaussian_kelly_when_covariance_singular_and_drift_in_its_range_gives_min_norm() -> None:
    f = gaussian_kelly([0.1, 0.1], [[1.0, 1.0], [1.0, 1.0]])
    assert f == pytest.approx([0.05, 0.05])


def test_gaussian_kelly_when_a_riskless_mix_has_edge_raises_unbounded_growth() -> None:
    with pytest.raises(UnboundedGrowth):
        gaussian_kelly([0.1, 0.2], [[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(UnboundedGrowth):
        gaussian_kelly([0.1, 0.05], [[1.0, 0.0], [0.0, 0.0]], long_only=True)


# -- GAUSSIAN CONSTRAINED ----------------------------------------------------------


def _kkt_long_only_budget(
    f: np.ndarray, excess: np.ndarray, cov: np.ndarray, gross: float | None
) -> None:
    gradient = excess - cov @ f
    multiplier = 0.0
    if gross is not None and f.sum() > gross - 1e-7:
        multiplier = float(np.max(gradient[f > 1e-7])) if np.any(f > 1e-7) else 0.0
    assert multiplier >= -1e-7
    for fi, gi in zip(f, gradient, strict=True):
        assert fi >= -1e-9
        if fi > 1e-7:
            assert gi - multiplier == pytest.approx(0.0, abs=1e-6)
        else:
            assert gi - multiplier <= 1e-6


def test_gaussian_kelly_long_only_when_short_would_help_holds_zero_and_satisfies_kkt() -> None:
    excess = np.array([0.1, -0.05])
    free = gaussian_kelly(excess, COV)
    assert free[1] < 0.0
    f = gaussian_kelly(excess, COV, long_only=True)
    assert f == pytest.approx([2.5, 0.0], abs=1e-7)
    _kkt_long_only_budget(f, excess, COV, None)


def test_gaussian_kelly_when_max_gross_binds_matches_brute_force_on_the_simplex() -> None:
    excess = np.array([0.1, 0.05, 0.07])
    cov = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.05]])
    f = gaussian_kelly(excess, cov, long_only=True, max_gross=1.0)
    assert f.sum() == pytest.approx(1.0, abs=1e-8)
    _kkt_long_only_budget(f, excess, cov, 1.0)
    grid = np.linspace(0.0, 1.0, 201)
    best = max(
        gaussian_growth([a, b, 1.0 - a - b], excess, cov)
        for a, b in itertools.product(grid, grid)
        if a + b <= 1.0
    )
    assert gaussian_growth(f, excess, cov) >= best - 1e-12


def test_gaussian_kelly_when_gross_limit_binds_with_shorts_matches_brute_force() -> None:
    excess = np.array([0.1, -0.05])
    f = gaussian_kelly(excess, COV, max_gross=1.0)
    assert np.abs(f).sum() == pytest.approx(1.0, abs=1e-7)
    grid = np.linspace(-1.0, 1.0, 2001)
    best = max(
        gaussian_growth([a, s * (1.0 - abs(a))], excess, COV) for a in grid for s in (-1.0, 1.0)
    )
    assert gaussian_growth(f, excess, COV) >= best - 1e-10


def test_gaussian_kelly_when_gross_limit_is_slack_returns_unconstrained() -> None:
    f = gaussian_kelly([0.1, 0.05], COV, max_gross=10.0)
    assert f == pytest.approx([0.0085 / 0.0035, 0.001 / 0.0035], rel=1e-9)


def test_gaussian_kelly_with_riskless_asset_and_gross_limit_splits_by_lagrange() -> None:
    # max 0.1a + 0.05b - a^2/2, a + b <= 1: 0.1 - a = 0.05 => a = 0.05, b = 0.95.
    f = gaussian_kelly([0.1, 0.05], [[1.0, 0.0], [0.0, 0.0]], long_only=True, max_gross=1.0)
    assert f == pytest.approx([0.05, 0.95], abs=1e-6)


def test_gaussian_kelly_long_only_singular_but_bounded_puts_all_on_the_better_twin() -> None:
    f = gaussian_kelly([0.1, 0.2], [[1.0, 1.0], [1.0, 1.0]], long_only=True)
    assert f == pytest.approx([0.0, 0.2], abs=1e-6)


@pytest.mark.parametrize(
    ("mu", "cov", "kwargs"),
    [
        ([0.1, 0.2], [[1.0, 0.0], [0.0, -1.0]], {}),
        ([0.1, 0.2], [[1.0, 0.5], [0.0, 1.0]], {}),
        ([0.1], [[1.0, 0.0], [0.0, 1.0]], {}),
        ([math.nan], [[1.0]], {}),
        ([0.1], [[1.0]], {"max_gross": 0.0}),
        ([], [], {}),
    ],
)
def test_gaussian_kelly_when_input_is_malformed_raises_invalid_value(
    mu: list[float], cov: list[list[float]], kwargs: dict[str, float]
) -> None:
    with pytest.raises(InvalidValue):
        gaussian_kelly(mu, cov, **kwargs)  # type: ignore[arg-type]
