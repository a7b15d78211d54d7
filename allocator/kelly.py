"""Closed-form and constrained Kelly fractions: the discrete bet and the Gaussian (continuous) case.

Pure numpy/scipy, no Ray. Every bad argument is an ``InvalidValue`` (or a subclass)
that names the argument.

Singular covariance (decided here, tested in ``tests/unit/allocator``):

- unconstrained: when the excess return ``M - R`` lies in the range of ``C`` the
  optimum is not unique and the minimum-norm one, ``pinv(C) (M - R)``, is
  returned; when it does not, some zero-variance portfolio earns a positive
  excess return, log growth is unbounded and ``UnboundedGrowth`` is raised.
- ``long_only`` without ``max_gross``: the same test restricted to long
  portfolios (one small LP); unbounded raises ``UnboundedGrowth``.
- with ``max_gross`` the feasible set is bounded, so the problem always has a
  solution, singular or not.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog, minimize

from core.errors import InvalidValue

FloatArray = npt.NDArray[np.float64]

# -- ERRORS -------------------------------------------------------------------


class UnboundedGrowth(InvalidValue):
    """A riskless portfolio earns a positive excess return: no finite Kelly optimum exists."""


# -- DISCRETE BET --------------------------------------------------------------


def _check_bet(p: float, b: float) -> None:
    if not (math.isfinite(p) and 0.0 <= p <= 1.0):
        raise InvalidValue("p", p, "the win probability must be in [0, 1]")
    if not (math.isfinite(b) and b > 0.0):
        raise InvalidValue("b", b, "the net odds must be finite and > 0")


def discrete_kelly(p: float, b: float) -> float:
    """Return the Kelly fraction ``p - q/b`` of a bet paying ``b`` per unit staked, 0 without edge.

    ``p`` is the probability of winning, ``q = 1 - p`` of losing the stake.
    A bet with no positive edge gets 0 (never a short position).
    """
    _check_bet(p, b)
    return max(0.0, p - (1.0 - p) / b)


def discrete_growth(p: float, b: float, f: float) -> float:
    """Return the expected log growth per bet ``p log(1 + f b) + q log(1 - f)`` of staking ``f``.

    ``f`` must lie in [0, 1]; staking everything on a bet that can lose gives ``-inf``.
    """
    _check_bet(p, b)
    if not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise InvalidValue("f", f, "the staked fraction must be in [0, 1]")
    q = 1.0 - p
    win = p * math.log1p(f * b) if p > 0.0 else 0.0
    if q == 0.0:
        return win
    if f == 1.0:
        return -math.inf
    return win + q * math.log1p(-f)


# -- GAUSSIAN (CONTINUOUS-TIME) KELLY -----------------------------------------


def _check_gaussian(
    mu: npt.ArrayLike, cov: npt.ArrayLike, risk_free: float
) -> tuple[FloatArray, FloatArray]:
    m = np.asarray(mu, dtype=np.float64)
    c = np.asarray(cov, dtype=np.float64)
    if m.ndim == 0:
        m = m.reshape(1)
    if c.ndim == 0:
        c = c.reshape(1, 1)
    if m.ndim != 1 or m.size == 0:
        raise InvalidValue("mu", m.shape, "must be a non-empty 1-D vector of drifts")
    if c.shape != (m.size, m.size):
        raise InvalidValue("cov", c.shape, f"must be a {m.size}x{m.size} matrix")
    if not np.all(np.isfinite(m)):
        raise InvalidValue("mu", mu, "must be finite")
    if not np.all(np.isfinite(c)):
        raise InvalidValue("cov", cov, "must be finite")
    if not math.isfinite(risk_free):
        raise InvalidValue("risk_free", risk_free, "must be finite")
    scale = max(float(np.max(np.abs(c))), 1e-300)
    if not np.allclose(c, c.T, rtol=1e-9, atol=1e-12 * scale):
        raise InvalidValue("cov", "asymmetric", "a covariance matrix must be symmetric")
    c = 0.5 * (c + c.T)
    if float(np.linalg.eigvalsh(c)[0]) < -1e-9 * scale:
        raise InvalidValue("cov", "indefinite", "a covariance matrix must be positive semidefinite")
    return m, c


def _null_space(c: FloatArray) -> FloatArray:
    values, vectors = np.linalg.eigh(c)
    tol = max(c.shape) * np.finfo(np.float64).eps * max(float(values[-1]), 1e-300)
    result: FloatArray = vectors[:, values <= tol]
    return result


def _check_bounded(excess: FloatArray, c: FloatArray, long_only: bool) -> None:
    null = _null_space(c)
    if null.shape[1] == 0:
        return
    scale = max(float(np.max(np.abs(excess))), 1e-300)
    if not long_only:
        # Unbounded iff the excess has a component along the null space of C.
        if float(np.max(np.abs(null.T @ excess))) > 1e-9 * scale:
            raise UnboundedGrowth("mu", excess.tolist(), "singular cov: a riskless mix has edge")
        return
    # Long-only: unbounded iff some d >= 0 with C d = 0 has excess . d > 0.
    # Maximise excess . d over {d >= 0, sum d = 1, null_perp^T d = 0}: C d = 0 <=> d in span(null).
    values, vectors = np.linalg.eigh(c)
    tol = max(c.shape) * np.finfo(np.float64).eps * max(float(values[-1]), 1e-300)
    range_basis = vectors[:, values > tol]
    n = excess.size
    a_eq = np.vstack([range_basis.T, np.ones((1, n))])
    b_eq = np.concatenate([np.zeros(range_basis.shape[1]), [1.0]])
    lp = linprog(-excess, A_eq=a_eq, b_eq=b_eq, bounds=[(0.0, None)] * n, method="highs")
    if lp.status == 0 and -float(lp.fun) > 1e-9 * scale:
        raise UnboundedGrowth("mu", excess.tolist(), "singular cov: a riskless long mix has edge")


def _solve_qp(
    excess: FloatArray, c: FloatArray, long_only: bool, max_gross: float | None
) -> FloatArray:
    """Maximise ``excess.F - F.C.F/2`` under the constraints, by SLSQP on split variables.

    Without ``long_only`` the weights are ``F = P - N`` with ``P, N >= 0`` so that
    the gross exposure ``sum |F| = sum (P + N)`` at the optimum is a linear constraint.
    """
    n = excess.size
    if long_only:
        lift = np.eye(n)
    else:
        lift = np.hstack([np.eye(n), -np.eye(n)])
    q_mat = lift.T @ c @ lift
    lin = lift.T @ excess
    scale = max(float(np.max(np.abs(np.diag(q_mat)))), 1e-300)
    q_s = q_mat / scale
    lin_s = lin / scale

    def objective(x: FloatArray) -> float:
        return float(0.5 * x @ q_s @ x - lin_s @ x)

    def gradient(x: FloatArray) -> FloatArray:
        g: FloatArray = q_s @ x - lin_s
        return g

    constraints = []
    if max_gross is not None:
        ones = np.ones(lift.shape[1])
        constraints.append(
            {"type": "ineq", "fun": lambda x: max_gross - ones @ x, "jac": lambda x: -ones}
        )
    x0 = np.zeros(lift.shape[1])
    result = minimize(
        objective,
        x0,
        jac=gradient,
        method="SLSQP",
        bounds=[(0.0, None)] * lift.shape[1],
        constraints=constraints,
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    weights: FloatArray = lift @ np.maximum(result.x, 0.0)
    return weights


def gaussian_kelly(
    mu: npt.ArrayLike,
    cov: npt.ArrayLike,
    risk_free: float = 0.0,
    long_only: bool = False,
    max_gross: float | None = None,
) -> FloatArray:
    """Return the continuous-time Kelly fractions ``F* = C^-1 (M - R)``, constrained when asked.

    ``mu`` are the assets' drifts and ``cov`` their covariance per unit of time;
    ``risk_free`` is the cash rate. ``long_only`` forbids short weights;
    ``max_gross`` bounds the gross exposure ``sum |F_i|`` (``sum F_i`` when long-only).
    With constraints the quadratic growth ``(M - R).F - F.C.F / 2`` is maximised
    exactly over the feasible set. See the module docstring for singular ``cov``.
    """
    m, c = _check_gaussian(mu, cov, risk_free)
    if max_gross is not None and not (math.isfinite(max_gross) and max_gross > 0.0):
        raise InvalidValue("max_gross", max_gross, "must be finite and > 0")
    excess = m - risk_free
    if max_gross is None:
        _check_bounded(excess, c, long_only)
    if not long_only and max_gross is None:
        free: FloatArray = np.linalg.pinv(c, hermitian=True) @ excess
        return free
    if max_gross is not None and not long_only:
        free = np.linalg.pinv(c, hermitian=True) @ excess
        if float(np.sum(np.abs(free))) <= max_gross and _null_space(c).shape[1] == 0:
            return free
    return _solve_qp(excess, c, long_only, max_gross)


def gaussian_growth(
    weights: npt.ArrayLike, mu: npt.ArrayLike, cov: npt.ArrayLike, risk_free: float = 0.0
) -> float:
    """Return the continuous-time log growth rate ``r + F.(M - R) - F.C.F / 2`` of ``weights``."""
    m, c = _check_gaussian(mu, cov, risk_free)
    f = np.asarray(weights, dtype=np.float64).reshape(-1)
    if f.size != m.size:
        raise InvalidValue("weights", f.shape, f"must have {m.size} entries")
    return float(risk_free + f @ (m - risk_free) - 0.5 * f @ c @ f)
