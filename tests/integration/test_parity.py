"""Parity: a paper run in lockstep over the embedded data equals the one-process backtest, agent by agent."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from backtest.runner import run_backtest
from core.config import SwarmConfig, load_config
from risk.limits import RiskLimits

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("orders", "filled_orders", "fees", "funding", "realized", "unrealized", "pnl")


def test_paper_lockstep_when_same_data_and_config_then_equals_backtest() -> None:
    config = load_config(ROOT / "configs" / "paper.toml", SwarmConfig)
    g = config.gateway
    limits = RiskLimits(
        max_order_notional=g.max_order_notional,
        max_position_notional=g.max_position_notional,
        max_orders_per_window=g.max_orders_per_minute,
        price_band_bps=g.price_band_bps,
    )
    agents = {k: v for k, v in config.agents.items() if v.enabled}
    backtest = asyncio.run(
        run_backtest(
            ROOT / config.paper.data_dir,
            agents,
            config.paper,
            limits,
            council=config.council.config if config.council.enabled else None,
        )
    )

    result = subprocess.run(
        [sys.executable, "main.py", "--paper", "--lockstep", "--no-tui", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    paper = json.loads(result.stdout.strip().splitlines()[-1])

    assert paper["events"] == backtest["events"]
    assert set(paper["agents"]) == set(backtest["agents"])
    for agent_id, expected in backtest["agents"].items():
        got = paper["agents"][agent_id]
        assert {f: got[f] for f in FIELDS} == {f: expected[f] for f in FIELDS}, agent_id
    if config.council.enabled:  # the council decided the same budgets at the same times
        assert [r["budgets"] for r in paper["council"]["reweights"]] == [
            d["budgets"] for d in backtest["council"]["history"] if d["budgets"]
        ]
    assert backtest["agents"]["mm"]["orders"] > 100  # the comparison is not between two idle runs
    assert backtest["agents"]["mm"]["filled_orders"] > 0
