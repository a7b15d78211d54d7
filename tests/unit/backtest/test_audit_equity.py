"""Equity rebuilt from audit rows: average cost, realized and unrealized at the last fill price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backtest.audit_equity import FillRow, FundingRow, equity_from_audit
from backtest.html import render_html
from backtest.summary import performance_report, weight_history
from core.errors import InvalidValue

S = 1_000_000_000
PERP = "BTC/USDT:USDT"


def _fill(t: int, side: str, price: str, amount: str, fee: str = "0") -> FillRow:
    return FillRow(
        t * S, "mm", "bybit", PERP, side, Decimal(price), Decimal(amount), Decimal(fee), "USDT"
    )


def test_equity_when_round_trip_and_open_position_then_realized_fees_funding_and_marks() -> None:
    fills = [
        _fill(10, "buy", "100", "2", fee="0.1"),
        _fill(20, "sell", "110", "1", fee="0.1"),  # realizes +10, 1 left at cost 100
        _fill(30, "buy", "120", "1"),  # adds: 2 at average 110, marked at 120
    ]
    funding = [FundingRow(25 * S, "mm", Decimal("-0.5"))]
    run = equity_from_audit(
        fills, funding, [(0, {"mm": Decimal(1000)})], samples=2, min_step_ns=10 * S
    )
    points = run.equity["mm"]
    assert [t for t, _ in points] == [10 * S, 20 * S, 30 * S]
    assert points[0][1] == Decimal("999.9")  # fee only: marked at its own price
    assert points[1][1] == Decimal(1000) + 10 - Decimal("0.2") + 10  # 1 left, marked at 110
    # realized 10, fees 0.2, funding -0.5, unrealized (120 - 110) * 2 = 20
    assert points[2][1] == Decimal(1000) + 10 - Decimal("0.2") - Decimal("0.5") + 20
    assert run.fees["mm"] == Decimal("0.2")
    assert run.traded_notional["mm"] == Decimal(200 + 110 + 120)
    assert run.funding["mm"] == Decimal("-0.5")


def test_equity_when_position_flips_then_new_average_is_the_flip_price() -> None:
    fills = [_fill(1, "buy", "100", "1"), _fill(2, "sell", "90", "3"), _fill(3, "buy", "80", "2")]
    run = equity_from_audit(fills, [], [(0, {"mm": Decimal(1000)})], min_step_ns=S)
    # -10 on the long; short 2 at 90 bought back at 80: +20
    assert run.equity["mm"][-1][1] == Decimal(1010)


def test_equity_when_no_budget_then_refused() -> None:
    with pytest.raises(InvalidValue):
        equity_from_audit([], [], [])


def test_report_when_budgets_move_then_weights_and_html_without_network() -> None:
    budgets = [(0, {"a": Decimal(60), "b": Decimal(40)}), (5 * S, {"a": Decimal(0)})]
    assert weight_history(budgets) == [(0, {"a": 0.6, "b": 0.4}), (5 * S, {"a": 0.0, "b": 1.0})]
    fills = [
        FillRow(t * S, "a", "bybit", PERP, side, Decimal(p), Decimal(1), None, None)
        for t, side, p in ((1, "buy", "100"), (4, "sell", "90"), (6, "buy", "95"))
    ]
    run = equity_from_audit(fills, [], budgets, min_step_ns=S)
    report = performance_report(run, folds=2)
    assert set(report["agents"]) == {"a", "b"} and len(report["folds"]) == 2
    assert report["agents"]["a"]["pnl"] == "-10"
    page = render_html("<run>", report, run.equity, ["note & more"])
    assert page.count("<svg") == 4 and "&lt;run&gt;" in page and "note &amp; more" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page
