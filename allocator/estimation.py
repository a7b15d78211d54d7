"""Estimation that does not chase noise: period weights, cleaning, guards and shrinkage.

Pure numpy. The input everywhere is a ``(periods, agents)`` matrix of per-period
returns, oldest row first; ``NaN`` (or an infinity) means "no data for this agent
in this period" (it did not exist yet, or its equity was not read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from core.errors import InvalidValue

FloatArray = npt.NDArray[np.float64]

# A standard deviation below this (per period) is "no variation at all".
ZERO_VARIANCE = 1e-12
# A per-period return beyond this (in either direction) is a data error, not a trade.
MAX_ABS_RETURN = 1e3


class AgentGuard(StrEnum):
    """Why an agent is kept out of the optimisation."""

    SHORT_HISTORY = "short_history"
    ZERO_VARIANCE = "zero_variance"
    ALL_LOSSES = "all_losses"


@dataclass(frozen=True, slots=True)
class CleanReturns:
    """Returns ready for the optimiser, and what was done to get them.

    ``returns`` has every missing value replaced by 0 (a flat period);
    ``observed`` counts each agent's real observations.
    """

    returns: FloatArray
    observed: npt.NDArray[np.int64]


def as_return_matrix(returns: npt.ArrayLike, agents: int) -> FloatArray:
    """Return ``returns`` as a float ``(periods, agents)`` matrix, or raise ``InvalidValue``.

    Non-finite values stay (they mean "no data"); a finite return beyond
    ``MAX_ABS_RETURN`` is a broken equity series and raises.
    """
    matrix = np.asarray(returns, dtype=np.float64)
    if matrix.size == 0:
        return np.zeros((0, agents))
    if matrix.ndim == 1 and agents == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.ndim != 2 or matrix.shape[1] != agents:
        raise InvalidValue("returns", matrix.shape, f"must be a (periods, {agents}) matrix")
    finite = matrix[np.isfinite(matrix)]
    if finite.size and float(np.max(np.abs(finite))) > MAX_ABS_RETURN:
        worst = float(finite[np.argmax(np.abs(finite))])
        raise InvalidValue("returns", worst, f"a per-period return beyond ±{MAX_ABS_RETURN:g}")
    return matrix


def clean_returns(returns: FloatArray) -> CleanReturns:
    """Replace missing (non-finite) returns by 0 and count each agent's observations."""
    finite = np.isfinite(returns)
    cleaned = np.where(finite, returns, 0.0)
    return CleanReturns(returns=cleaned, observed=finite.sum(axis=0).astype(np.int64))


def period_weights(periods: int, halflife: float | None) -> FloatArray:
    """Return weights summing to 1 that halve every ``halflife`` periods into the past.

    The newest period (the last row) weighs most; ``None`` gives equal weights.
    """
    if periods < 0:
        raise InvalidValue("periods", periods, "must be >= 0")
    if periods == 0:
        return np.zeros(0)
    if halflife is None:
        return np.full(periods, 1.0 / periods)
    if not (math.isfinite(halflife) and halflife > 0.0):
        raise InvalidValue("halflife", halflife, "must be finite and > 0")
    age = np.arange(periods - 1, -1, -1, dtype=np.float64)
    raw = np.exp2(-age / halflife)
    weights: FloatArray = raw / raw.sum()
    return weights


def weighted_moments(returns: FloatArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return the weighted mean vector and (biased) weighted covariance of ``returns``."""
    mean: FloatArray = weights @ returns
    centered = returns - mean
    cov: FloatArray = (centered.T * weights) @ centered
    return mean, cov


def agent_guards(
    clean: CleanReturns, weights: FloatArray, min_history: int
) -> dict[int, AgentGuard]:
    """Return, by column, the agents whose history is too short or degenerate to optimise."""
    guards: dict[int, AgentGuard] = {}
    returns = clean.returns
    for column in range(returns.shape[1]):
        series = returns[:, column]
        if int(clean.observed[column]) < min_history:
            guards[column] = AgentGuard.SHORT_HISTORY
        elif bool(np.all(series <= 0.0)) and bool(np.any(series < 0.0)):
            guards[column] = AgentGuard.ALL_LOSSES
        else:
            mean = float(weights @ series)
            spread = math.sqrt(max(float(weights @ (series - mean) ** 2), 0.0))
            if spread <= ZERO_VARIANCE:
                guards[column] = AgentGuard.ZERO_VARIANCE
    return guards


def ledoit_wolf(returns: FloatArray, weights: FloatArray) -> tuple[FloatArray, float]:
    """Return the covariance shrunk toward a scaled identity, and the intensity used.

    Follows Ledoit and Wolf (2004), "A well-conditioned estimator for
    large-dimensional covariance matrices", with each period weighted by
    ``weights`` (effective sample size ``1 / sum w^2``). The intensity is in [0, 1];
    the result is positive definite whenever any agent varies.
    """
    periods, agents = returns.shape
    if periods == 0 or agents == 0:
        return np.zeros((agents, agents)), 1.0
    _, sample = weighted_moments(returns, weights)
    target_scale = float(np.trace(sample)) / agents
    target = target_scale * np.eye(agents)
    distance = float(np.sum((sample - target) ** 2))
    if distance <= 0.0:
        return sample, 0.0
    centered = returns - weights @ returns
    effective = 1.0 / float(weights @ weights)
    # Weighted average of ||x x^T - S||^2, divided by the effective sample size.
    norms = np.einsum("ti,ti->t", centered, centered)
    spread = float(weights @ norms**2) - float(np.sum(sample**2))
    beta = min(max(spread, 0.0) / effective, distance)
    intensity = beta / distance
    shrunk: FloatArray = intensity * target + (1.0 - intensity) * sample
    return shrunk, intensity


def bayes_stein_intensity(means: FloatArray, cov: FloatArray, effective_periods: float) -> float:
    """Return Jorion's (1986) Bayes-Stein intensity for shrinking ``means`` to their average.

    ``(m + 2) / ((m + 2) + T d' C^-1 d)`` with ``d`` the means minus their average,
    ``C`` the (shrunk) covariance and ``T`` the effective number of periods: close
    to 1 when the means differ by less than their noise, close to 0 when the
    differences are many standard errors wide.
    """
    agents = means.size
    if agents < 2:
        return 0.0
    gap = means - float(np.mean(means))
    solved = np.linalg.lstsq(cov, gap, rcond=None)[0]
    distance = max(float(gap @ solved), 0.0) * effective_periods
    if not math.isfinite(distance):
        return 0.0
    return (agents + 2.0) / (agents + 2.0 + distance)


def shrink_means(returns: FloatArray, weights: FloatArray, intensity: float) -> FloatArray:
    """Shift each agent's returns so its weighted mean moves toward the cross-agent mean.

    ``intensity`` 0 keeps the sample as is, 1 gives every agent the same mean;
    the joint shape (covariances, tails) of the sample is unchanged.
    """
    if returns.size == 0:
        return returns
    means = weights @ returns
    shift = intensity * (means - float(np.mean(means)))
    shifted: FloatArray = returns - shift
    return shifted
