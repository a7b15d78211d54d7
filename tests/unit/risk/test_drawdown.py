from __future__ import annotations

from decimal import Decimal

from risk.drawdown import FUND, DrawdownTracker
from risk.limits import RiskLimits

D = Decimal
LIMITS = RiskLimits(max_drawdown_fraction_agent=D("0.1"), max_drawdown_fraction_total=D("0.05"))
BUDGETS = {"a": D(1000), "b": D(1000)}


def test_drawdown_when_within_limit_then_no_breach() -> None:
    tracker = DrawdownTracker(LIMITS)
    assert tracker.update({"a": D(50), "b": D(0)}, BUDGETS) == []
    assert tracker.update({"a": D(-40), "b": D(0)}, BUDGETS) == []  # 90 of 100 allowed
    view = tracker.view()
    assert view["a"].peak == D(50) and view["a"].drawdown == D(90)
    assert view[FUND].peak == D(50)


def test_drawdown_when_agent_falls_beyond_limit_then_agent_breach() -> None:
    tracker = DrawdownTracker(RiskLimits(max_drawdown_fraction_agent=D("0.1")))
    tracker.update({"a": D(50), "b": D(0)}, BUDGETS)
    breaches = tracker.update({"a": D("-50.01"), "b": D(0)}, BUDGETS)
    assert [b.agent_id for b in breaches] == ["a"]
    assert breaches[0].drawdown == D("100.01") and breaches[0].limit == D(100)
    assert "a" in breaches[0].describe()


def test_drawdown_when_fund_falls_beyond_total_limit_then_fund_breach() -> None:
    tracker = DrawdownTracker(LIMITS)
    assert tracker.update({"a": D(0), "b": D(0)}, BUDGETS) == []
    breaches = tracker.update({"a": D(-60), "b": D(-41)}, BUDGETS)
    assert [b.agent_id for b in breaches] == [None]
    assert breaches[0].limit == D(100)


def test_drawdown_when_budget_zero_then_never_breaches() -> None:
    tracker = DrawdownTracker(LIMITS)
    assert tracker.update({"c": D(-1000)}, {"c": D(0)}) == []


def test_rebase_when_called_then_peaks_start_from_last_pnl() -> None:
    tracker = DrawdownTracker(LIMITS)
    tracker.update({"a": D(500)}, {"a": D(1000)})
    assert tracker.update({"a": D(300)}, {"a": D(1000)})  # 200 > 100
    tracker.rebase()
    assert tracker.update({"a": D(300)}, {"a": D(1000)}) == []
