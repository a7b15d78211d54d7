"""The year backtest on a slice: fast, finite, and fees whenever it trades."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from agents.funding_arb.backtest import run_backtest
from agents.funding_arb.config import FundingArbConfig

DATA = Path(__file__).resolve().parents[4] / "data" / "funding-2025-2026"
SEPT_2025 = (1756684800 * 10**9, 1759276800 * 10**9)  # 2025-09-01 .. 2025-10-01 UTC


def test_a_month_of_btc_with_defaults_gives_finite_figures() -> None:
    report = run_backtest(
        DATA, ["BTC"], Decimal(100000), start_ns=SEPT_2025[0], end_ns=SEPT_2025[1]
    )
    assert 700 <= report["hours"] <= 721
    assert math.isfinite(report["annualized_carry_pct"])
    assert report["fees_paid"] >= 0 and (report["trades"] == 0 or report["fees_paid"] > 0)
    assert set(report["mean_funding_apr_pct"]) == {
        "binance:BTC/USDT:USDT",
        "bybit:BTC/USDT:USDT",
        "hyperliquid:BTC/USDC:USDC",
    }


def test_a_month_of_btc_with_a_low_hurdle_trades_pays_fees_and_collects_funding() -> None:
    eager = FundingArbConfig(horizon_hours=Decimal(5000), entry_margin=Decimal(0))
    report = run_backtest(
        DATA, ["BTC"], Decimal(100000), config=eager, start_ns=SEPT_2025[0], end_ns=SEPT_2025[1]
    )
    assert report["entries"] > 0 and report["trades"] >= 2
    assert report["fees_paid"] > 0
    assert report["funding_received"] > 0
    assert math.isfinite(report["annualized_net_pct"])
    assert 0 <= report["max_drawdown_pct"] < 5


def test_report_when_units_exit_then_every_exit_has_its_reason_and_strategies_their_net() -> None:
    stretch = (1755734400 * 10**9, 1764547200 * 10**9)  # 2025-08-21 .. 2025-12-01 UTC
    report = run_backtest(
        DATA, ["BTC", "ETH"], Decimal(100000), start_ns=stretch[0], end_ns=stretch[1]
    )
    exits = report["exits_detail"]
    assert len(exits) == report["exits"] > 0
    assert all(e["reason"].startswith("exit_") and e["unit"] and e["at"] for e in exits)
    reasons: dict[str, int] = {}
    for e in exits:
        reasons[e["reason"]] = reasons.get(e["reason"], 0) + 1
    assert reasons == report["exit_reasons"]
    assert "exit_no_edge" not in reasons
    for row in report["by_strategy"].values():
        expected = row["funding"] - row["fees"] - row["slippage"] - row["borrow_interest"]
        assert math.isclose(row["net"], expected, abs_tol=0.02)
    assert report["legs_below_maintenance_hours"] == 0
    assert report["avg_deployed_capital_pct"] > 50  # the budget is used, not a quarter of it
