"""The one-process backtest: the paper run's cores on a simulated clock, deterministic."""

from __future__ import annotations

import asyncio
from pathlib import Path

from backtest.runner import run_backtest
from core.config import SwarmConfig, load_config
from risk.limits import RiskLimits

ROOT = Path(__file__).resolve().parents[3]


def _run() -> dict[str, object]:
    config = load_config(ROOT / "configs" / "paper.toml", SwarmConfig)
    g = config.gateway
    limits = RiskLimits(
        max_order_notional=g.max_order_notional,
        max_position_notional=g.max_position_notional,
        max_orders_per_window=g.max_orders_per_minute,
        price_band_bps=g.price_band_bps,
    )
    agents = {k: v for k, v in config.agents.items() if v.enabled}
    return asyncio.run(run_backtest(ROOT / config.paper.data_dir, agents, config.paper, limits))


def test_backtest_when_embedded_data_then_agents_trade_through_the_gateway_and_books_conserve() -> (
    None
):
    report = _run()
    assert report["events"] == 3345
    assert report["venue_conservation_errors"] == 0
    assert report["breaker"] == "closed"
    agents = report["agents"]
    assert isinstance(agents, dict) and set(agents) == {"mm", "funding-arb", "liq-hunter"}
    assert all(a["errors"] == 0 for a in agents.values())
    assert agents["mm"]["orders"] > 100
    assert agents["mm"]["filled_orders"] >= 1  # deterministic here, unlike the concurrent paper run


def test_backtest_when_run_twice_then_identical_reports() -> None:
    first, second = _run(), _run()
    for report in (first, second):
        report.pop("elapsed_s")
        report.pop("events_per_s")
    assert first == second
