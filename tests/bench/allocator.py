"""Benchmark: the empirical Kelly allocator's solve time for 3, 10 and 50 agents x 10,000 periods.

Beside it, in the same run and on the same returns, two bare baselines:

- ``bare_evals``: one vectorised evaluation of the log growth and its gradient
  at the equal-weight point, times the number of SLSQP iterations the solve
  took (the floor of any gradient method taking that many steps);
- ``closed_form``: the weighted moments of the returns and the unconstrained
  continuous-time Kelly solve ``C^-1 M`` (``gaussian_kelly``), no constraints.

The returns are Gaussian noise with agent means around 3 bp and a 2% standard
deviation per period, so the optimum is interior for most agents. The goal
(``BENCHMARKS.md``) is 50 agents x 10,000 periods under 100 ms; a peer's SLSQP
took 10.7 ms for 10 x 10,000 on a machine of the project's kind.

Prints ONE JSON line. Run from the project root:

    .venv/bin/python -m tests.bench.allocator
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from allocator.empirical import AllocatorConfig, allocate, growth_and_gradient  # noqa: E402
from allocator.estimation import period_weights, weighted_moments  # noqa: E402
from allocator.kelly import gaussian_kelly  # noqa: E402

PERIODS = 10_000
AGENTS = (3, 10, 50)
REPEATS = 9
GOAL_MS_50 = 100.0


def _median_ms(work: Callable[[], Any], repeats: int = REPEATS) -> float:
    work()  # warm caches and imports
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e3


def _case(agents: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    means = rng.normal(3e-4, 2e-4, agents)
    returns = rng.normal(means, 0.02, (PERIODS, agents))
    names = [f"agent{i}" for i in range(agents)]
    config = AllocatorConfig(max_turnover=None)
    result = allocate(returns, names, config)
    solve_ms = _median_ms(lambda: allocate(returns, names, config))

    weights = period_weights(PERIODS, config.halflife)
    equal = np.full(agents, 1.0 / agents)
    eval_ms = _median_ms(lambda: growth_and_gradient(returns, weights, equal), repeats=51)
    iterations = max(result.iterations, 1)
    bare_ms = eval_ms * iterations

    def closed() -> None:
        mean, cov = weighted_moments(returns, weights)
        gaussian_kelly(mean, cov)

    closed_ms = _median_ms(closed)
    return {
        "agents": agents,
        "periods": PERIODS,
        "solve_ms": round(solve_ms, 3),
        "reason": result.reason.value,
        "iterations": result.iterations,
        "invested": round(1.0 - result.cash, 4),
        "bare_eval_ms": round(eval_ms, 4),
        "bare_evals_ms": round(bare_ms, 3),
        "closed_form_ms": round(closed_ms, 3),
        "ratio_vs_bare_evals": round(solve_ms / bare_ms, 2),
        "ratio_vs_closed_form": round(solve_ms / closed_ms, 2),
    }


def main() -> None:
    """Run every size and print one JSON line."""
    cases = [_case(agents, seed=agents) for agents in AGENTS]
    largest = cases[-1]
    print(
        json.dumps(
            {
                "bench": "allocator",
                "repeats": REPEATS,
                "cases": cases,
                "goal_ms_50_agents": GOAL_MS_50,
                "meets_goal": largest["solve_ms"] < GOAL_MS_50,
            }
        )
    )


if __name__ == "__main__":
    main()
