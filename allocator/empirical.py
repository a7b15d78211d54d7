"""The council's allocator: fractional Kelly over the empirical joint distribution of agent returns.

``allocate(returns, agents, config, previous)`` is a pure function: a
``(periods, agents)`` matrix of per-period returns (oldest first, ``NaN`` for
"no data") and the previous weights in, an ``Allocation`` out. It never raises
on bad data (NaN, empty history, one agent, more agents than periods): it
answers with a reason. It raises ``InvalidValue`` only for bad arguments (agent
names, matrix shape) and ``InfeasibleAllocation`` when the floor cannot be met.

What it does, in order:

1. fewer than ``min_history`` periods: equal weights (``1/n``, at most ``cap``);
2. returns within ``noise`` of zero count as flat (0) and are no observation
   (an agent needs ``min_history`` periods that moved); each agent with too
   short or degenerate a history is guarded: an agent that cannot be ranked
   (short history, zero variance) keeps the exploration weight ``explore`` (at
   least the floor; scaled down when the explorers would not fit under the
   Kelly fraction) so it can earn a history, one whose every period lost is set
   to 0 (all losses). When no agent can be ranked at all, an unranked agent
   keeps the weight in force when it is above ``explore`` (no evidence, no
   change);
3. the others: period weights halving every ``halflife`` periods, means shrunk
   toward their common mean (intensity ``shrinkage``, or Jorion's Bayes-Stein
   intensity under the Ledoit-Wolf covariance when ``None``), then the full Kelly fractions
   ``F*`` maximise ``sum_t w_t log(1 + r_t . F)`` long-only, unlevered, within
   the floor and cap (SLSQP, analytic gradient); the weights are
   ``kelly_fraction * F*``;
4. when ``previous`` is given (``{}`` means all at 0; ``None`` means no
   weights in force, so no limit), a move larger than ``max_turnover`` (sum of
   absolute weight changes) stops on the straight line from the previous
   weights. Guarded agents move on that line too: a drop to zero (or a rise to
   the exploration weight) takes as many reweightings as the limit says. Only
   moves forced by the bounds (a weight above the cap, an active agent below the
   floor, leverage) are free.
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
    CleanReturns,
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
    """Lower bound of every ranked agent's weight."""
    explore: float = Field(default=0.05, ge=0.0, le=1.0)
    """Weight of an agent that cannot be ranked yet (short or flat history): room to earn one."""
    noise: float = Field(default=0.0, ge=0.0, le=1.0)
    """Per-period returns within this of zero are flat (a rounding-size P&L is not an edge),
    and only periods that moved count toward ``min_history``."""
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


def _explore_weight(cfg: AllocatorConfig, explorers: int, ranked: int) -> float:
    """The weight each unranked agent keeps: ``explore`` within the cap, at least the floor,
    shrunk when the explorers and the ranked agents' floors would not fit under the Kelly
    fraction."""
    if explorers == 0:
        return 0.0
    weight = max(cfg.floor, min(cfg.explore, cfg.cap))
    room = cfg.kelly_fraction - ranked * cfg.floor
    if explorers * weight > room:
        weight = max(cfg.floor, room / explorers)
    return weight


def _feasible_previous(
    prev: FloatArray,
    active: npt.NDArray[np.int64],
    guarded: npt.NDArray[np.int64],
    cfg: AllocatorConfig,
) -> FloatArray:
    """The previous weights brought inside the bounds (moves forced by the bounds are free).

    A guarded agent keeps its weight (within the cap): its move to the guard's weight is a
    move like any other and uses the turnover allowance. Ranked agents go within their
    floor and cap and the room the guarded ones leave under the Kelly fraction.
    """
    out = np.clip(prev, 0.0, cfg.cap)
    limit = max(0.0, 1.0 - active.size * cfg.floor)
    if guarded.size and float(out[guarded].sum()) > limit:
        out[guarded] = _project(out[guarded], 0.0, cfg.cap, limit)
    if active.size:
        room = max(0.0, min(cfg.kelly_fraction, 1.0 - float(out[guarded].sum())))
        out[active] = _project(prev[active], cfg.floor, min(cfg.cap, cfg.kelly_fraction), room)
    return out


def _limit_turnover(
    target: FloatArray,
    feasible_prev: FloatArray,
    prev: FloatArray,
    previous: Mapping[str, float] | None,
    cfg: AllocatorConfig,
) -> tuple[FloatArray, AllocationReason]:
    """Stop a move larger than the turnover limit on the line from the previous weights."""
    if cfg.max_turnover is None or previous is None:
        return target, AllocationReason.SOLVED
    forced = float(np.abs(feasible_prev - prev).sum())
    allowance = max(cfg.max_turnover - forced, 0.0)
    wanted = float(np.abs(target - feasible_prev).sum())
    if wanted <= allowance + 1e-12:
        return target, AllocationReason.SOLVED
    step = allowance / wanted
    limited: FloatArray = feasible_prev + step * (target - feasible_prev)
    return limited, AllocationReason.TURNOVER_LIMITED


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
    if cfg.noise > 0.0:
        # A flat period says nothing about an edge: only periods that moved are observations.
        moved = np.abs(clean.returns) > cfg.noise
        observed = moved.sum(axis=0).astype(np.int64)
        clean = CleanReturns(returns=np.where(moved, clean.returns, 0.0), observed=observed)

    # -- GUARDS --
    guards = agent_guards(clean, weights, cfg.min_history)
    active = np.array([c for c in range(count) if c not in guards], dtype=np.int64)
    k = cfg.kelly_fraction
    explorers = [c for c, guard in guards.items() if guard is not AgentGuard.ALL_LOSSES]
    fixed = np.zeros(count)
    fixed[explorers] = _explore_weight(cfg, len(explorers), int(active.size))
    room = min(k, 1.0 - float(fixed.sum()))
    if active.size * cfg.floor > room + 1e-12:
        raise InfeasibleAllocation(
            "floor", cfg.floor, f"{active.size} agents x floor exceeds the room {room:.4f}"
        )
    guarded = np.array(sorted(guards), dtype=np.int64)
    feasible_prev = _feasible_previous(prev, active, guarded, cfg)
    if active.size == 0:
        # Nothing can be ranked: moving capital to cash would act on a lack of data, not
        # on evidence. An unranked agent keeps its weight in force (at least ``explore``);
        # only an all-losses history moves, on the turnover limit.
        target = fixed.copy()
        if explorers:
            kept = np.maximum(fixed[explorers], feasible_prev[explorers])
            target[explorers] = _project(kept, 0.0, cfg.cap, 1.0)
        final, _ = _limit_turnover(target, feasible_prev, prev, previous, cfg)  # turnover logged
        growth = log_growth(clean.returns, weights, final)
        return _result(
            names, final, AllocationReason.DEGENERATE, growth, guards, 0.0, prev, 0, periods
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
    final, reason = _limit_turnover(target, feasible_prev, prev, previous, cfg)
    growth = log_growth(clean.returns, weights, final)
    return _result(
        names, final, reason, growth, guards, intensity, prev, iterations, periods, cov_intensity
    )
