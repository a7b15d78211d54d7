"""The council's allocator: fractional Kelly over the empirical joint distribution of agent returns.

``allocate(returns, agents, config, previous)`` is a pure function: a
``(periods, agents)`` matrix of per-period returns (oldest first, ``NaN`` for
"no data") and the previous weights in, an ``Allocation`` out. It never raises
on bad data (NaN, empty history, one agent, more agents than periods): it
answers with a reason. It raises ``InvalidValue`` only for bad arguments (agent
names, matrix shape) and ``InfeasibleAllocation`` when the floor cannot be met.

What it does, in order:

1. fewer than ``min_history`` periods: equal weights (``1/n``, at most ``cap``);
2. each agent with too short or degenerate a history is guarded: held at the
   floor (short history, zero variance: it keeps a little capital to show
   something) or set to 0 (all losses);
3. the others: period weights halving every ``halflife`` periods, means shrunk
   toward their common mean (intensity ``shrinkage``, or Jorion's Bayes-Stein
   intensity under the Ledoit-Wolf covariance when ``None``), then the full Kelly fractions
   ``F*`` maximise ``sum_t w_t log(1 + r_t . F)`` long-only, unlevered, within
   the floor and cap (SLSQP, analytic gradient); the weights are
   ``kelly_fraction * F*``;
4. when ``previous`` is given (``{}`` means all at 0; ``None`` means no
   weights in force, so no limit), a move larger than ``max_turnover`` (sum of absolute weight changes) stops
   on the straight line from the previous weights, which keeps every bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import minimize

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

FloatArray = npt.NDArray[np.float64]

# Below this wealth ratio the log is continued by its tangent: concave, C1, finite.
_LOG_FLOOR = 1e-6

# -- CONFIG AND RESULT -----------------------------------------------------------


class AllocatorConfig(BaseModel):
    """How the council sizes the agents; an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kelly_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    floor: float = Field(default=0.0, ge=0.0, le=1.0)
    cap: float = Field(default=1.0, gt=0.0, le=1.0)
    max_turnover: float | None = Field(default=0.25, gt=0.0, le=2.0)
    min_history: int = Field(default=60, ge=2)
    halflife: float | None = Field(default=250.0, gt=0.0)
    shrinkage: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _floor_below_cap(self) -> AllocatorConfig:
        if self.floor > self.cap:
            raise ValueError(f"floor={self.floor} must not exceed cap={self.cap}")
        if self.floor > self.kelly_fraction:
            raise ValueError(
                f"floor={self.floor} must not exceed kelly_fraction={self.kelly_fraction}"
            )
        return self


class AllocationReason(StrEnum):
    """Which branch produced the weights."""

    WARMUP = "equal_weight_warmup"
    DEGENERATE = "degenerate_guard"
    SOLVED = "solved"
    TURNOVER_LIMITED = "turnover_limited"
    SOLVER_FAILED = "solver_failed_kept_previous"


class Allocation(BaseModel):
    """The weights the council sets, and why; everything it needs to log the decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: dict[str, float]
    cash: float
    reason: AllocationReason
    growth: float
    guards: dict[str, AgentGuard]
    shrinkage: float
    covariance_shrinkage: float
    turnover: float
    iterations: int
    periods: int


class InfeasibleAllocation(InvalidValue):
    """The floor times the number of agents leaves no room under the Kelly fraction."""


# -- OBJECTIVE ------------------------------------------------------------------


def _log_and_slope(wealth: FloatArray) -> tuple[FloatArray, FloatArray]:
    safe = np.maximum(wealth, _LOG_FLOOR)
    logs = np.where(
        wealth >= _LOG_FLOOR,
        np.log(safe),
        math.log(_LOG_FLOOR) + (wealth - _LOG_FLOOR) / _LOG_FLOOR,
    )
    slopes = 1.0 / safe
    return logs, slopes


def log_growth(returns: FloatArray, weights: FloatArray, fractions: FloatArray) -> float:
    """Return the weighted mean log wealth ratio ``sum_t w_t log(1 + r_t . f)`` per period."""
    if returns.shape[0] == 0 or fractions.size == 0:
        return 0.0
    logs, _ = _log_and_slope(1.0 + np.einsum("ti,i->t", returns, fractions))
    return float(np.einsum("t,t->", weights, logs))


def growth_and_gradient(
    returns: FloatArray, weights: FloatArray, fractions: FloatArray
) -> tuple[float, FloatArray]:
    """Return the weighted log growth of ``fractions`` and its gradient, in one pass.

    ``einsum`` rather than ``@`` on purpose: numpy's and scipy's OpenBLAS are two
    thread pools that spin against each other on a small machine while SLSQP
    alternates between them (3x slower on 2 cores); these products do not need BLAS.
    """
    logs, slopes = _log_and_slope(1.0 + np.einsum("ti,i->t", returns, fractions))
    gradient: FloatArray = np.einsum("t,ti->i", weights * slopes, returns)
    return float(np.einsum("t,t->", weights, logs)), gradient


# -- HELPERS --------------------------------------------------------------------


def _project(x: FloatArray, lower: float, upper: float, budget: float) -> FloatArray:
    """Return the point of ``{lower <= x_i <= upper, sum x <= budget}`` nearest to ``x``."""
    clipped: FloatArray = np.clip(x, lower, upper)
    if float(clipped.sum()) <= budget + 1e-15:
        return clipped
    low, high = float(np.min(x - upper)), float(np.max(x - lower))
    for _ in range(100):
        middle = 0.5 * (low + high)
        if float(np.clip(x - middle, lower, upper).sum()) > budget:
            low = middle
        else:
            high = middle
    projected: FloatArray = np.clip(x - high, lower, upper)
    return projected


def _solve_full_kelly(
    sample: FloatArray,
    weights: FloatArray,
    start: FloatArray,
    lower: float,
    upper: float,
    budget: float,
) -> tuple[FloatArray, int, bool]:
    """Maximise the empirical log growth over the box and the budget; return ``F*``, iterations."""
    # Scale the objective so its curvature is of order 1 (returns are small numbers).
    second_moment = float(weights @ np.einsum("ti,ti->t", sample, sample)) / sample.shape[1]
    scale = 1.0 / max(second_moment, 1e-18)
    ones = np.ones(sample.shape[1])

    def negative(x: FloatArray) -> tuple[float, FloatArray]:
        value, gradient = growth_and_gradient(sample, weights, x)
        return -value * scale, -gradient * scale

    result = minimize(
        negative,
        start,
        jac=True,
        method="SLSQP",
        bounds=[(lower, upper)] * sample.shape[1],
        constraints=[{"type": "ineq", "fun": lambda x: budget - ones @ x, "jac": lambda x: -ones}],
        options={"ftol": 1e-10, "maxiter": 200},
    )
    solution = np.asarray(result.x, dtype=np.float64)
    ok = bool(np.all(np.isfinite(solution)))
    if ok:
        solution = _project(solution, lower, upper, budget)
    return solution, int(result.get("nit", 0)), ok


def _check_agents(agents: Sequence[str]) -> list[str]:
    names = list(agents)
    if len(set(names)) != len(names) or any(not isinstance(a, str) or not a for a in names):
        raise InvalidValue("agents", names, "must be distinct non-empty names")
    return names


def _previous_vector(previous: Mapping[str, float] | None, names: list[str]) -> FloatArray:
    if previous is None:
        return np.zeros(len(names))
    values = np.array([float(previous.get(name, 0.0)) for name in names], dtype=np.float64)
    return np.where(np.isfinite(values), np.maximum(values, 0.0), 0.0)


def _result(
    names: list[str],
    final: FloatArray,
    reason: AllocationReason,
    growth: float,
    guards: Mapping[int, AgentGuard],
    shrinkage: float,
    previous: FloatArray,
    iterations: int,
    periods: int,
    covariance_shrinkage: float = 0.0,
) -> Allocation:
    weights = {name: float(w) for name, w in zip(names, final, strict=True)}
    return Allocation(
        weights=weights,
        cash=max(0.0, 1.0 - float(final.sum())),
        reason=reason,
        growth=growth if math.isfinite(growth) else 0.0,
        guards={names[i]: guard for i, guard in guards.items()},
        shrinkage=shrinkage,
        covariance_shrinkage=covariance_shrinkage,
        turnover=float(np.abs(final - previous).sum()),
        iterations=iterations,
        periods=periods,
    )


# -- ALLOCATE -------------------------------------------------------------------


def allocate(
    returns: npt.ArrayLike,
    agents: Sequence[str],
    config: AllocatorConfig | None = None,
    previous: Mapping[str, float] | None = None,
) -> Allocation:
    """Return the agents' capital weights from their per-period returns (see the module doc).

    ``returns`` is ``(periods, len(agents))``, oldest row first, ``NaN`` for no
    data. ``previous`` are the weights now in force (missing agents count as 0).
    """
    cfg = config or AllocatorConfig()
    names = _check_agents(agents)
    count = len(names)
    prev = _previous_vector(previous, names)
    if count == 0:
        return _result(names, np.zeros(0), AllocationReason.DEGENERATE, 0.0, {}, 0.0, prev, 0, 0)
    matrix = as_return_matrix(returns, count)
    periods = matrix.shape[0]
    if count * cfg.floor > 1.0 + 1e-12:
        raise InfeasibleAllocation("floor", cfg.floor, f"{count} agents x floor exceeds 1")
    clean = clean_returns(matrix)
    weights = period_weights(periods, cfg.halflife)

    # -- WARMUP --
    if periods < cfg.min_history:
        equal = np.full(count, min(cfg.cap, 1.0 / count))
        growth = log_growth(clean.returns, weights, equal)
        return _result(names, equal, AllocationReason.WARMUP, growth, {}, 0.0, prev, 0, periods)

    # -- GUARDS --
    guards = agent_guards(clean, weights, cfg.min_history)
    fixed = np.zeros(count)
    for column, guard in guards.items():
        fixed[column] = 0.0 if guard is AgentGuard.ALL_LOSSES else cfg.floor
    active = np.array([c for c in range(count) if c not in guards], dtype=np.int64)
    k = cfg.kelly_fraction
    room = min(k, 1.0 - float(fixed.sum()))
    if active.size * cfg.floor > room + 1e-12:
        raise InfeasibleAllocation(
            "floor", cfg.floor, f"{active.size} agents x floor exceeds the room {room:.4f}"
        )
    if active.size == 0:
        growth = log_growth(clean.returns, weights, fixed)
        return _result(
            names, fixed, AllocationReason.DEGENERATE, growth, guards, 0.0, prev, 0, periods
        )

    # -- ESTIMATE AND SOLVE --
    sample = clean.returns[:, active]
    cov, cov_intensity = ledoit_wolf(sample, weights)
    if cfg.shrinkage is None:
        effective = 1.0 / float(weights @ weights)
        intensity = bayes_stein_intensity(weights @ sample, cov, effective)
    else:
        intensity = cfg.shrinkage
    shrunk = shrink_means(sample, weights, intensity)
    lower, upper = cfg.floor / k, min(1.0, cfg.cap / k)
    budget = room / k
    mean = weights @ shrunk
    try:
        guess = np.asarray(np.linalg.lstsq(cov, mean, rcond=None)[0], dtype=np.float64)
    except np.linalg.LinAlgError:
        guess = np.zeros(active.size)
    if not np.all(np.isfinite(guess)):
        guess = np.zeros(active.size)
    start = _project(guess, lower, upper, budget)
    full, iterations, ok = _solve_full_kelly(shrunk, weights, start, lower, upper, budget)

    # -- TURNOVER --
    # The previous weights brought inside the bounds: moves forced by the bounds or
    # the guards are not the optimiser's and do not use the turnover allowance.
    feasible_prev = fixed.copy()
    feasible_prev[active] = _project(prev[active], cfg.floor, min(cfg.cap, k), room)
    if not ok:
        growth = log_growth(clean.returns, weights, feasible_prev)
        return _result(
            names,
            feasible_prev,
            AllocationReason.SOLVER_FAILED,
            growth,
            guards,
            intensity,
            prev,
            iterations,
            periods,
            cov_intensity,
        )
    target = fixed.copy()
    target[active] = k * full
    final, reason = target, AllocationReason.SOLVED
    if cfg.max_turnover is not None and previous is not None:
        forced = float(np.abs(feasible_prev - prev).sum())
        allowance = max(cfg.max_turnover - forced, 0.0)
        wanted = float(np.abs(target - feasible_prev).sum())
        if wanted > allowance + 1e-12:
            step = allowance / wanted
            final = feasible_prev + step * (target - feasible_prev)
            reason = AllocationReason.TURNOVER_LIMITED
    growth = log_growth(clean.returns, weights, final)
    return _result(
        names, final, reason, growth, guards, intensity, prev, iterations, periods, cov_intensity
    )
