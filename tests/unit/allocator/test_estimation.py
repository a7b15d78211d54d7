"""Period weights, guards, Ledoit-Wolf and Bayes-Stein shrinkage."""

from __future__ import annotations

import numpy as np
import pytest

from allocator.estimation import (
    AgentGuard,
    agent_guards,
    as_return_matrix,
    bayes_stein_intensity,
    clean_returns,
    ledoit_wolf,
    period_weights,
    shrink_means,
)
from core.errors import InvalidValue


def test_period_weights_halve_every_halflife_and_sum_to_one() -> None:
    w = period_weights(100, 10.0)
    assert w.sum() == pytest.approx(1.0)
    assert w[-1] / w[-11] == pytest.approx(2.0)
    assert np.all(np.diff(w) > 0.0)


def test_period_weights_without_halflife_are_equal_and_bad_halflife_raises() -> None:
    assert period_weights(4, None) == pytest.approx([0.25] * 4)
    assert period_weights(0, 5.0).size == 0
    with pytest.raises(InvalidValue):
        period_weights(4, 0.0)


def test_clean_returns_when_values_are_missing_counts_only_the_observed() -> None:
    clean = clean_returns(np.array([[np.nan, 0.1], [np.inf, 0.2], [0.3, np.nan]]))
    assert clean.observed.tolist() == [1, 2]
    assert np.all(np.isfinite(clean.returns))


def test_as_return_matrix_when_shape_does_not_match_agents_raises() -> None:
    with pytest.raises(InvalidValue):
        as_return_matrix(np.zeros((5, 3)), 2)
    assert as_return_matrix([], 3).shape == (0, 3)


def test_as_return_matrix_when_a_return_is_absurdly_large_raises_naming_it() -> None:
    with pytest.raises(InvalidValue, match=r"returns=10000000000\.0"):
        as_return_matrix(np.array([[0.01], [1e10]]), 1)
    assert as_return_matrix(np.array([[0.01], [np.inf]]), 1).shape == (2, 1)


def test_agent_guards_flag_short_history_all_losses_and_zero_variance() -> None:
    rng = np.random.default_rng(1)
    returns = np.column_stack(
        [
            rng.normal(0.001, 0.01, 50),
            np.where(np.arange(50) < 45, np.nan, 0.01),
            -np.abs(rng.normal(0.001, 0.01, 50)),
            np.full(50, 0.002),
        ]
    )
    clean = clean_returns(returns)
    guards = agent_guards(clean, period_weights(50, 20.0), min_history=10)
    assert guards == {
        1: AgentGuard.SHORT_HISTORY,
        2: AgentGuard.ALL_LOSSES,
        3: AgentGuard.ZERO_VARIANCE,
    }


def test_ledoit_wolf_when_agents_outnumber_periods_is_positive_definite() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0.0, 0.01, (8, 20))
    cov, intensity = ledoit_wolf(returns, period_weights(8, None))
    assert 0.0 < intensity <= 1.0
    assert np.linalg.eigvalsh(cov)[0] > 0.0


def test_ledoit_wolf_shrinks_little_when_history_is_long_and_structure_is_strong() -> None:
    rng = np.random.default_rng(3)
    true = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 4.0]]) * 1e-4
    returns = rng.multivariate_normal(np.zeros(3), true, 20_000)
    cov, intensity = ledoit_wolf(returns, period_weights(20_000, None))
    assert intensity < 0.01
    assert cov == pytest.approx(true, abs=1e-5)
    iid = rng.normal(0.0, 0.01, (50, 3))
    _, noisy = ledoit_wolf(iid, period_weights(50, None))
    assert noisy > intensity


def test_bayes_stein_when_means_are_equal_shrinks_fully_and_when_far_apart_barely() -> None:
    cov = np.eye(3) * 1e-4
    assert bayes_stein_intensity(np.full(3, 0.001), cov, 1000.0) == pytest.approx(1.0)
    far = bayes_stein_intensity(np.array([0.0, 0.01, 0.02]), cov, 1000.0)
    assert far < 0.01
    assert bayes_stein_intensity(np.array([0.01]), np.eye(1), 10.0) == 0.0


def test_shrink_means_moves_each_mean_toward_the_average_keeping_deviations() -> None:
    returns = np.array([[0.01, 0.03], [0.03, 0.05]])
    weights = period_weights(2, None)
    half = shrink_means(returns, weights, 0.5)
    assert weights @ half == pytest.approx([0.025, 0.035])
    assert np.diff(half, axis=0) == pytest.approx(np.diff(returns, axis=0))
