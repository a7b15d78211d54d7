"""The performance report of a run: per agent and in total, from equity series (pure).

The backtest (``backtest.runner`` report) and ``main.py report`` (the audit
store of a paper or live run) both end here, so both print the same figures:
``RunSeries`` holds what a run produced (each agent's equity series, traded
notional, fees, funding, the budget history) and ``performance_report`` turns
it into per-agent and total ``backtest.metrics.Performance`` figures plus the
weight history (each agent's share of the budgets in force, at each change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backtest.metrics import EquityPoint, fold_bounds, performance, slice_series, total_series
from core.errors import InvalidValue

TOTAL = "total"


@dataclass(frozen=True)
class RunSeries:
    """What a run produced, per agent: equity on market time, traded notional, fees, funding."""

    equity: Mapping[str, Sequence[EquityPoint]]
    traded_notional: Mapping[str, Decimal] = field(default_factory=dict)
    fees: Mapping[str, Decimal] = field(default_factory=dict)
    funding: Mapping[str, Decimal] = field(default_factory=dict)
    budgets: Sequence[tuple[int, Mapping[str, Decimal]]] = ()
    """Budgets in force from each time on (the start, then every change)."""


def weight_history(
    budgets: Sequence[tuple[int, Mapping[str, Decimal]]],
) -> list[tuple[int, dict[str, float]]]:
    """Return each agent's share of the total budget at every change (0 for an unfunded agent)."""
    out: list[tuple[int, dict[str, float]]] = []
    current: dict[str, Decimal] = {}
    for ts_ns, change in budgets:
        current.update(change)
        total = sum(current.values(), Decimal(0))
        shares = {a: float(v / total) if total > 0 else 0.0 for a, v in sorted(current.items())}
        out.append((ts_ns, shares))
    return out


def _figures(
    run: RunSeries, agents: Sequence[str], lo: int | None, hi: int | None
) -> dict[str, Any]:
    per_agent: dict[str, Any] = {}
    series: dict[str, list[EquityPoint]] = {}
    for agent in agents:
        points = list(run.equity[agent])
        if lo is not None and hi is not None:
            points = slice_series(points, lo, hi)
        series[agent] = points
        whole = lo is None
        per_agent[agent] = performance(
            points,
            traded_notional=run.traded_notional.get(agent, Decimal(0)) if whole else Decimal(0),
            fees=run.fees.get(agent, Decimal(0)) if whole else Decimal(0),
            funding=run.funding.get(agent, Decimal(0)) if whole else Decimal(0),
        ).as_dict()
    total = performance(
        total_series(series),
        traded_notional=sum(run.traded_notional.values(), Decimal(0)) if lo is None else Decimal(0),
        fees=sum(run.fees.values(), Decimal(0)) if lo is None else Decimal(0),
        funding=sum(run.funding.values(), Decimal(0)) if lo is None else Decimal(0),
    ).as_dict()
    return {"agents": per_agent, TOTAL: total}


def performance_report(run: RunSeries, *, folds: int = 0) -> dict[str, Any]:
    """Return the per-agent and total figures, the weight history, and ``folds`` equal windows.

    A fold's figures are measured on the equity series inside its window
    (starting from the equity at its start); traded notional, fees and funding
    are whole-run totals, so a fold reports them only for the whole run.
    """
    agents = sorted(run.equity)
    if not agents:
        raise InvalidValue("equity", {}, "the run has no agent to report on")
    report = _figures(run, agents, None, None)
    report["weights"] = [
        {"ts_ns": ts, "weights": shares} for ts, shares in weight_history(run.budgets)
    ]
    if folds:
        first = min(run.equity[a][0][0] for a in agents)
        last = max(run.equity[a][-1][0] for a in agents)
        report["folds"] = [
            {"fold": i + 1, "start_ns": lo, "end_ns": hi, **_figures(run, agents, lo, hi)}
            for i, (lo, hi) in enumerate(fold_bounds(first, last, folds))
        ]
    return report


def series_from_backtest(run: Mapping[str, Any]) -> RunSeries:
    """Return the ``RunSeries`` of a ``backtest.runner.run_backtest`` report."""
    equity = {a: [(int(ts), Decimal(v)) for ts, v in points] for a, points in run["equity"].items()}
    agents = run["agents"]
    budgets: list[tuple[int, Mapping[str, Decimal]]] = []
    if equity:
        start = min(points[0][0] for points in equity.values() if points)
        budgets.append((start, {a: Decimal(v) for a, v in run["starting_budgets"].items()}))
    for decision in (run.get("council") or {}).get("history", []):
        if decision.get("budgets"):
            budgets.append(
                (int(decision["ts_ns"]), {a: Decimal(v) for a, v in decision["budgets"].items()})
            )
    return RunSeries(
        equity=equity,
        traded_notional={a: Decimal(x.get("traded_notional", "0")) for a, x in agents.items()},
        fees={
            a: sum((Decimal(v) for v in x["fees"].values()), Decimal(0)) for a, x in agents.items()
        },
        funding={
            a: sum((Decimal(v) for v in x["funding"].values()), Decimal(0))
            for a, x in agents.items()
        },
        budgets=budgets,
    )
