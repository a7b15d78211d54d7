"""A sweep's trial: one backtest with some parameters, on a window, under a scenario, scored."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from backtest.stress import Perturbation
from core.errors import InvalidValue
from sweep.trial import TrialPlan, run_trial, score_of

ROOT = Path(__file__).resolve().parents[3]
PLAN = TrialPlan(
    config_path=str(ROOT / "configs" / "paper.toml"),
    agent="mm",
    data_dir=str(ROOT / "data" / "bybit-btcusdt-2022-12-13" / "lean"),
    metric="pnl",
    symbols=("BTC/USDT:USDT",),
)


def test_trial_when_params_then_they_reach_the_agent_and_change_its_orders() -> None:
    a = run_trial(PLAN, {"refresh_ticks": 10})
    b = run_trial(PLAN, {"refresh_ticks": 200})
    assert a["orders"] > b["orders"] > 0
    assert a["score"] == float(a["pnl"])
    assert a["equity"] and a["equity"][0][1] == "30000"


def test_trial_when_fees_doubled_then_same_fills_and_twice_the_fees() -> None:
    base = run_trial(PLAN, {})
    doubled = run_trial(
        replace(PLAN, perturbation=Perturbation("x2", fee_multiplier=Decimal(2))), {}
    )
    assert doubled["fills"] == base["fills"] > 0
    assert Decimal(doubled["fees"]) == 2 * Decimal(base["fees"])
    assert doubled["score"] < base["score"]
    assert doubled["scenario"] == "x2"


def test_trial_when_window_then_only_that_span_replayed() -> None:
    whole = run_trial(PLAN, {})
    start = whole["equity"][0][0]
    half = run_trial(replace(PLAN, start_ns=start, end_ns=start + 3 * 3600 * 10**9), {})
    assert half["events"] < whole["events"]


def test_score_when_metrics_then_pnl_or_realized_minus_fees() -> None:
    report = {"pnl": "-1.5", "realized": "2", "fees": {"bybit:USDT": "0.5", "x": "0.25"}}
    assert score_of(report, "pnl") == -1.5
    assert score_of(report, "realized_minus_fees") == 1.25
    with pytest.raises(InvalidValue, match="metric"):
        score_of(report, "sharpe")  # type: ignore[arg-type]


def test_trial_when_unknown_agent_then_error_names_it() -> None:
    with pytest.raises(InvalidValue, match="nobody"):
        run_trial(replace(PLAN, agent="nobody"), {})
