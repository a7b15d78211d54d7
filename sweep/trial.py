"""One trial of a sweep: one backtest of one agent with some parameters, on one window, scored.

The same cores as any backtest (``backtest.runner.run_backtest``); a trial is a plain
function of a picklable ``TrialPlan`` and the parameters, so Ray Tune can run it on any
node that has the project and its data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtest.metrics import max_drawdown
from backtest.runner import run_backtest
from backtest.stress import Perturbation
from core.config import AgentSpec, SwarmConfig, load_config
from core.errors import InvalidValue
from risk.limits import limits_of
from sweep.spec import Metric, with_params


@dataclass(frozen=True, slots=True)
class TrialPlan:
    """Everything a trial needs but its parameters (absolute paths: trials run anywhere)."""

    config_path: str
    agent: str
    data_dir: str
    metric: Metric
    symbols: tuple[str, ...] = ()
    start_ns: int | None = None
    end_ns: int | None = None
    perturbation: Perturbation = field(default_factory=Perturbation)


def agent_spec(config: SwarmConfig, agent: str, params: Mapping[str, Any]) -> AgentSpec:
    """Return the agent's spec with ``params`` laid over its config section."""
    spec = config.agents.get(agent)
    if spec is None:
        raise InvalidValue(
            "agent", agent, f"not in the config (agents: {', '.join(config.agents)})"
        )
    return spec.model_copy(update={"config": with_params(spec.config, params), "enabled": True})


def score_of(agent_report: Mapping[str, Any], metric: Metric) -> float:
    """Return the trial's score from the agent's backtest figures (higher is better)."""
    pnl = float(agent_report["pnl"])
    if metric == "pnl":
        return pnl
    fees = sum(float(v) for v in agent_report["fees"].values())
    if metric == "realized_minus_fees":
        return float(agent_report["realized"]) - fees
    raise InvalidValue("metric", metric, "unknown")


def run_trial(plan: TrialPlan, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the backtest of ``plan`` with ``params``; return the score and the figures behind it."""
    from exchanges.feeds.replay import ReplayFeed
    from exchanges.feeds.subscriptions import bind_agents

    config = load_config(plan.config_path, SwarmConfig)
    spec = agent_spec(config, plan.agent, params)
    symbols = list(plan.symbols) or None
    files = ReplayFeed(Path(plan.data_dir), symbols=symbols).files()
    agents, _bindings, _unserved = bind_agents({plan.agent: spec}, files, config.paper.venues)
    raw = asyncio.run(
        run_backtest(
            Path(plan.data_dir),
            agents,
            config.paper,
            limits_of(config),
            symbols=symbols,
            start_ns=plan.start_ns,
            end_ns=plan.end_ns,
            perturbation=plan.perturbation,
        )
    )
    report = raw["agents"][plan.agent]
    equity = [(ts, Decimal(value)) for ts, value in raw["equity"][plan.agent]]
    fees = sum((Decimal(v) for v in report["fees"].values()), Decimal(0))
    return {
        "score": score_of(report, plan.metric),
        "pnl": report["pnl"],
        "realized": report["realized"],
        "fees": str(fees),
        "orders": report["orders"],
        "fills": raw["gateway_counters"].get("fills", 0),
        "max_drawdown": round(max_drawdown(equity), 6),
        "idle_reason": report["idle_reason"],
        "scenario": plan.perturbation.name,
        "equity": [(t, str(v)) for t, v in equity],
        "events": raw["events"],
        "elapsed_s": raw["elapsed_s"],
    }
