"""The council's empirical fractional-Kelly allocator: optimum, branches and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pydantic import ValidationError
from scipy.optimize import minimize_scalar

from allocator.empirical import (
    AllocationReason,
    AllocatorConfig,
    InfeasibleAllocation,
    allocate,
)
from allocator.estimation import AgentGuard
from core.errors import InvalidValue

EXACT = AllocatorConfig(shrinkage=0.0, halflife=None, max_turnover=None, min_history=20)


def _returns(means: list[float], sigma: float, periods: int, seed: int) -> np.ndarray:
    """Return noise with exactly the given sample means and a common standard deviation."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (periods, len(means)))
    noise = (noise - noise.mean(axis=0)) / noise.std(axis=0)
    result: np.ndarray = noise * sigma + np.array(means)
    return result


def _growth(returns: np.ndarray, fractions: np.ndarray) -> float:
    return float(np.mean(np.log1p(returns @ fractions)))


# -- SOLVED -----------------------------------------------------------------------


def test_allocate_when_one_agent_has_a_clear_edge_gives_it_the_most_weight() -> None:
    returns = _returns([0.002, 0.0, 0.0005], 0.01, 2_000, seed=4)
    result = allocate(returns, ["mm", "trend", "arb"])
    assert result.reason is AllocationReason.SOLVED
    assert result.weights["mm"] > result.weights["arb"] >= result.weights["trend"]
    assert result.weights["mm"] > 0.1
    assert 0.0 <= result.shrinkage < 1.0


def test_allocate_single_agent_matches_a_one_dimensional_search_of_log_growth() -> None:
    returns = _returns([0.0004], 0.03, 3_000, seed=5)
    result = allocate(returns, ["solo"], EXACT)
    full = result.weights["solo"] / EXACT.kelly_fraction
    search = minimize_scalar(
        lambda f: -_growth(returns, np.array([f])), bounds=(0.0, 1.0), method="bounded"
    )
    assert 0.05 < full < 0.95
    assert full == pytest.approx(search.x, abs=1e-4)
    # Close to the continuous closed form mu / sigma^2 for small returns.
    assert full == pytest.approx(0.0004 / 0.03**2, rel=0.1)


def test_allocate_two_agents_beats_every_point_of_a_grid_over_the_simplex() -> None:
    returns = _returns([0.0008, 0.0005], 0.02, 2_000, seed=6)
    result = allocate(returns, ["a", "b"], EXACT)
    full = np.array([result.weights["a"], result.weights["b"]]) / EXACT.kelly_fraction
    grid = np.linspace(0.0, 1.0, 201)
    best = max(
        _growth(returns, np.array([x, y])) for x, y in itertools.product(grid, grid) if x + y <= 1.0
    )
    assert _growth(returns, full) >= best - 1e-9


def test_allocate_when_full_kelly_wants_leverage_stays_unlevered_and_respects_cap() -> None:
    returns = _returns([0.003, 0.003], 0.01, 1_000, seed=7)
    config = EXACT.model_copy(update={"kelly_fraction": 1.0, "cap": 0.6})
    result = allocate(returns, ["a", "b"], config)
    assert sum(result.weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert max(result.weights.values()) <= 0.6 + 1e-12
    assert result.cash == pytest.approx(0.0, abs=1e-9)


def test_allocate_kelly_fraction_scales_the_weights_linearly() -> None:
    returns = _returns([0.0006, 0.0003, 0.0001], 0.03, 2_000, seed=8)
    half = allocate(returns, ["a", "b", "c"], EXACT)
    quarter = allocate(returns, ["a", "b", "c"], EXACT.model_copy(update={"kelly_fraction": 0.25}))
    for name in "abc":
        assert quarter.weights[name] == pytest.approx(half.weights[name] / 2.0, abs=1e-6)
    assert half.weights["a"] > 0.05
    assert quarter.cash > half.cash


def test_allocate_floor_keeps_every_active_agent_at_or_above_it() -> None:
    returns = _returns([0.002, -0.0005, 0.0], 0.01, 1_000, seed=9)
    result = allocate(returns, ["a", "b", "c"], EXACT.model_copy(update={"floor": 0.05}))
    assert min(result.weights.values()) >= 0.05 - 1e-12
    assert result.weights["b"] == pytest.approx(0.05, abs=1e-9)


# -- TURNOVER ---------------------------------------------------------------------


def test_allocate_when_target_is_far_limits_turnover_along_the_line_from_previous() -> None:
    returns = _returns([0.0, 0.002], 0.01, 1_000, seed=10)
    config = EXACT.model_copy(update={"max_turnover": 0.1})
    previous = {"a": 0.4, "b": 0.1}
    free = allocate(returns, ["a", "b"], EXACT, previous)
    limited = allocate(returns, ["a", "b"], config, previous)
    assert free.turnover > 0.1
    assert limited.reason is AllocationReason.TURNOVER_LIMITED
    assert limited.turnover == pytest.approx(0.1, abs=1e-9)
    step = (limited.weights["b"] - 0.1) / (free.weights["b"] - 0.1)
    assert limited.weights["a"] - 0.4 == pytest.approx(step * (free.weights["a"] - 0.4))


def test_allocate_when_move_is_within_turnover_limit_is_solved_unchanged() -> None:
    returns = _returns([0.0, 0.002], 0.01, 1_000, seed=10)
    free = allocate(returns, ["a", "b"], EXACT)
    config = EXACT.model_copy(update={"max_turnover": 2.0})
    result = allocate(returns, ["a", "b"], config, free.weights)
    assert result.reason is AllocationReason.SOLVED
    assert result.turnover == pytest.approx(0.0, abs=1e-6)


# -- WARMUP, GUARDS AND BAD INPUT ------------------------------------------------------


def test_allocate_before_min_history_gives_equal_weights_capped() -> None:
    returns = _returns([0.01, 0.0, 0.0], 0.01, 10, seed=11)
    result = allocate(returns, ["a", "b", "c"], AllocatorConfig(min_history=20, cap=0.25))
    assert result.reason is AllocationReason.WARMUP
    assert result.weights == {"a": 0.25, "b": 0.25, "c": 0.25}
    assert result.cash == pytest.approx(0.25)


def test_allocate_when_history_is_empty_is_warmup_with_equal_weights() -> None:
    result = allocate(np.empty((0, 2)), ["a", "b"])
    assert result.reason is AllocationReason.WARMUP
    assert result.weights == {"a": 0.5, "b": 0.5}
    assert allocate([], ["a"]).weights == {"a": 1.0}


def test_allocate_when_agent_history_is_short_or_nan_keeps_the_exploration_weight() -> None:
    returns = _returns([0.001, 0.001], 0.01, 100, seed=12)
    returns[:90, 1] = np.nan
    config = EXACT.model_copy(update={"floor": 0.02})
    result = allocate(returns, ["old", "new"], config)
    assert result.guards == {"new": AgentGuard.SHORT_HISTORY}
    assert result.weights["new"] == 0.05  # the default exploration weight, above the floor
    assert np.isfinite(result.weights["old"])
    at_floor = allocate(returns, ["old", "new"], config.model_copy(update={"explore": 0.0}))
    assert at_floor.weights["new"] == 0.02  # never below the floor


def test_allocate_when_flat_with_default_config_then_keeps_a_little_capital() -> None:
    # Regression (issue 11): a flat agent got the floor, default 0.0, and could never
    # earn its way back; its doc said it "keeps a little capital".
    returns = _returns([0.001, 0.0], 0.01, 100, seed=12)
    returns[:, 1] = 0.0
    result = allocate(returns, ["trader", "flat"], AllocatorConfig(min_history=20))
    assert result.guards == {"flat": AgentGuard.ZERO_VARIANCE}
    assert result.weights["flat"] == AllocatorConfig().explore > 0.0


def test_allocate_when_explorers_do_not_fit_under_kelly_then_shrunk_to_fit() -> None:
    returns = np.zeros((30, 20))
    result = allocate(returns, [f"a{i}" for i in range(20)], EXACT)
    assert list(result.weights.values()) == pytest.approx([0.5 / 20] * 20)
    assert sum(result.weights.values()) == pytest.approx(EXACT.kelly_fraction)


def test_allocate_when_returns_within_noise_then_flat_not_all_losses() -> None:
    returns = _returns([0.001, 0.0], 0.01, 100, seed=12)
    returns[:, 1] = 0.0
    returns[3, 1] = -2e-6  # a rounding-size loss
    plain = allocate(returns, ["trader", "tiny"], EXACT)
    assert plain.guards == {"tiny": AgentGuard.ALL_LOSSES} and plain.weights["tiny"] == 0.0
    quiet = allocate(returns, ["trader", "tiny"], EXACT.model_copy(update={"noise": 1e-5}))
    assert quiet.guards == {"tiny": AgentGuard.SHORT_HISTORY}  # no period that moved
    assert quiet.weights["tiny"] == EXACT.explore


def test_allocate_when_few_periods_moved_beyond_noise_then_short_history_not_ranked() -> None:
    returns = _returns([0.001, 0.0], 0.01, 100, seed=12)
    returns[:, 1] = 1e-7  # flat but for a few real losses: 3 observations < min_history 20
    returns[[10, 50, 90], 1] = -0.01
    config = EXACT.model_copy(update={"noise": 1e-4})
    result = allocate(returns, ["trader", "quiet"], config)
    assert result.guards == {"quiet": AgentGuard.SHORT_HISTORY}
    assert result.weights["quiet"] == EXACT.explore
    assert allocate(returns, ["trader", "quiet"], EXACT).guards == {}  # without noise: ranked


def test_allocate_when_agent_drops_to_zero_then_the_turnover_limit_holds() -> None:
    # Regression (issue 11): a guarded agent's move skipped the turnover limit, so an
    # agent went from its share to 0 in one reweighting.
    returns = _returns([0.001, 0.0], 0.01, 100, seed=13)
    returns[:, 1] = -np.abs(returns[:, 1]) - 1e-4
    config = AllocatorConfig(min_history=20, max_turnover=0.1)
    previous = {"good": 0.25, "bad": 0.25}
    weights = [0.25]
    for _ in range(6):
        result = allocate(returns, ["good", "bad"], config, previous)
        assert result.turnover <= 0.1 + 1e-9
        weights.append(result.weights["bad"])
        previous = result.weights
    assert weights[1] > 0.0  # not zero in one step
    assert all(0.0 <= a - b <= 0.1 + 1e-9 for a, b in itertools.pairwise(weights))
    assert weights[-1] == 0.0


def test_allocate_when_agent_only_loses_sets_it_to_zero() -> None:
    returns = _returns([0.001, 0.0], 0.01, 100, seed=13)
    returns[:, 1] = -np.abs(returns[:, 1]) - 1e-4
    result = allocate(returns, ["good", "bad"], EXACT.model_copy(update={"floor": 0.02}))
    assert result.guards == {"bad": AgentGuard.ALL_LOSSES}
    assert result.weights["bad"] == 0.0


def test_allocate_when_every_agent_is_degenerate_answers_with_the_guard() -> None:
    returns = np.full((50, 2), np.nan)
    returns[:, 1] = 0.0
    result = allocate(returns, ["a", "b"], EXACT)
    assert result.reason is AllocationReason.DEGENERATE
    assert result.guards == {"a": AgentGuard.SHORT_HISTORY, "b": AgentGuard.ZERO_VARIANCE}
    assert result.weights == {"a": EXACT.explore, "b": EXACT.explore}
    assert result.cash == pytest.approx(1.0 - 2 * EXACT.explore)


def test_allocate_when_agents_outnumber_periods_gives_finite_bounded_weights() -> None:
    returns = np.random.default_rng(14).normal(0.001, 0.02, (25, 40))
    result = allocate(returns, [f"a{i}" for i in range(40)], EXACT)
    values = np.array(list(result.weights.values()))
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0.0)
    assert values.sum() <= 1.0 + 1e-9


def test_allocate_with_no_agents_keeps_everything_in_cash() -> None:
    result = allocate(np.empty((0, 0)), [])
    assert result.weights == {}
    assert result.cash == 1.0


def test_allocate_when_floor_cannot_fit_raises_infeasible_allocation() -> None:
    returns = _returns([0.001] * 4, 0.01, 100, seed=15)
    with pytest.raises(InfeasibleAllocation):
        allocate(returns, list("abcd"), EXACT.model_copy(update={"floor": 0.2}))


def test_allocate_when_agent_names_repeat_or_shape_is_wrong_raises_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        allocate(np.zeros((5, 2)), ["a", "a"])
    with pytest.raises(InvalidValue):
        allocate(np.zeros((5, 3)), ["a", "b"])


def test_allocator_config_when_key_is_unknown_or_floor_exceeds_cap_is_rejected() -> None:
    with pytest.raises(ValidationError, match="kelly_fracton"):
        AllocatorConfig(kelly_fracton=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        AllocatorConfig(floor=0.3, cap=0.2)
    with pytest.raises(ValidationError):
        AllocatorConfig(kelly_fraction=0.0)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(0, 30), st.integers(1, 4)),
        elements=st.floats(allow_nan=True, allow_infinity=True),
    )
)
def test_allocate_on_arbitrary_floats_answers_or_raises_invalid_value(returns: np.ndarray) -> None:
    names = [f"a{i}" for i in range(returns.shape[1])]
    try:
        result = allocate(returns, names, EXACT.model_copy(update={"min_history": 2}))
    except InvalidValue:
        return
    values = np.array(list(result.weights.values()))
    assert np.all(np.isfinite(values))
    assert np.all(values >= 0.0)
    assert values.sum() <= 1.0 + 1e-9


# -- PROPERTY ---------------------------------------------------------------------------

_values = st.one_of(
    st.floats(min_value=-1.5, max_value=2.0),
    st.just(float("nan")),
    st.just(float("inf")),
)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[np.ndarray, AllocatorConfig, dict[str, float] | None]:
    agents = draw(st.integers(1, 6))
    periods = draw(st.integers(0, 40))
    returns = draw(hnp.arrays(np.float64, (periods, agents), elements=_values))
    k = draw(st.floats(0.05, 1.0))
    floor = draw(st.floats(0.0, 1.0)) * k / agents
    cap = draw(st.floats(max(floor, 1e-3), 1.0))
    config = AllocatorConfig(
        kelly_fraction=k,
        floor=floor,
        cap=cap,
        max_turnover=draw(st.one_of(st.none(), st.floats(0.01, 2.0))),
        min_history=draw(st.integers(2, 30)),
        halflife=draw(st.one_of(st.none(), st.floats(1.0, 100.0))),
        shrinkage=draw(st.one_of(st.none(), st.floats(0.0, 1.0))),
    )
    previous = draw(
        st.one_of(
            st.none(),
            st.lists(st.floats(0.0, 1.0), min_size=agents, max_size=agents).map(
                lambda ws: {f"a{i}": w for i, w in enumerate(ws)}
            ),
        )
    )
    return returns, config, previous


@settings(max_examples=300, deadline=None)
@given(_cases())
def test_allocate_on_any_input_gives_finite_weights_within_bounds_and_no_leverage(
    case: tuple[np.ndarray, AllocatorConfig, dict[str, float] | None],
) -> None:
    returns, config, previous = case
    names = [f"a{i}" for i in range(returns.shape[1])]
    result = allocate(returns, names, config, previous)
    values = np.array([result.weights[name] for name in names])
    assert np.all(np.isfinite(values))
    for name, value in zip(names, values, strict=True):
        assert -1e-12 <= value <= config.cap + 1e-9
        if name not in result.guards:  # a guarded agent may be on its way to 0 or to explore
            assert config.floor - 1e-9 <= value
    assert values.sum() <= 1.0 + 1e-9
    assert 0.0 <= result.cash <= 1.0
    assert np.isfinite(result.growth)
