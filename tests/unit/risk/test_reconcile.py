from __future__ import annotations

from decimal import Decimal

import pytest

from core.models import Balance, Balances, Position, PositionSide
from risk.limits import ReconcileTolerance
from risk.reconcile import (
    DiffKind,
    Verdict,
    combine,
    compare,
    reconcile_balances,
    reconcile_positions,
    within_tolerance,
)

D = Decimal
TOL = ReconcileTolerance()


def balances(**totals: str) -> Balances:
    return Balances(
        venue="paper",
        assets={
            a: Balance(currency=a, free=D(t), used=D(0), total=D(t)) for a, t in totals.items()
        },
    )


def position(symbol: str, contracts: str, side: PositionSide = PositionSide.LONG) -> Position:
    return Position(venue="paper", symbol=symbol, side=side, contracts=D(contracts))


@pytest.mark.parametrize(
    ("expected", "reported", "inside"),
    [
        ("100", "100", True),
        ("100", "101", True),  # 1 of 101: within 1 %
        ("100", "99", True),  # 1 of 100
        ("100", "98.9", False),
        ("100", "102.1", False),
        ("0", "0.000001", False),  # from nothing: never within a relative tolerance
        ("-50", "-50.5", True),
        ("10", "-10", False),
    ],
)
def test_tolerance_when_compared_then_relative_to_the_larger(
    expected: str, reported: str, inside: bool
) -> None:
    assert within_tolerance(D(expected), D(reported), TOL) is inside


def test_tolerance_when_absolute_dust_allowed_then_tiny_differences_pass() -> None:
    dust = ReconcileTolerance(absolute=D("0.00001"))
    assert within_tolerance(D(0), D("0.000001"), dust)


def test_balances_when_equal_then_match() -> None:
    result = reconcile_balances({"USDT": D(100)}, balances(USDT="100"), TOL)
    assert result.verdict is Verdict.MATCH and not result.corrections


def test_balances_when_within_tolerance_then_corrections() -> None:
    result = reconcile_balances({"USDT": D(100), "BTC": D(1)}, balances(USDT="100.5", BTC="1"), TOL)
    assert result.verdict is Verdict.CORRECTED
    assert [(c.key, c.delta) for c in result.corrections] == [("USDT", D("0.5"))]


def test_balances_when_beyond_tolerance_then_mismatch() -> None:
    result = reconcile_balances({"USDT": D(100)}, balances(USDT="90"), TOL)
    assert result.verdict is Verdict.MISMATCH
    assert result.mismatches[0].reported == D(90)
    assert "USDT" in result.describe()


def test_balances_when_asset_missing_from_report_then_mismatch_not_flat() -> None:
    result = reconcile_balances({"USDT": D(100), "BTC": D(1)}, balances(USDT="100"), TOL)
    assert result.verdict is Verdict.MISMATCH
    assert [(m.key, m.reported) for m in result.mismatches] == [("BTC", None)]


def test_balances_when_no_report_at_all_then_mismatch_for_every_holding() -> None:
    result = reconcile_balances({"USDT": D(100), "BTC": D(0)}, None, TOL)
    assert result.verdict is Verdict.MISMATCH
    assert [m.key for m in result.mismatches] == ["USDT"]


def test_balances_when_venue_holds_unexpected_asset_then_mismatch_unless_adopting() -> None:
    assert reconcile_balances({}, balances(ETH="2"), TOL).verdict is Verdict.MISMATCH
    adopted = reconcile_balances({}, balances(ETH="2"), TOL, adopt=True)
    assert adopted.verdict is Verdict.CORRECTED
    assert adopted.corrections[0].delta == D(2)


def test_adopt_when_report_misses_a_holding_then_still_mismatch() -> None:
    result = reconcile_balances({"BTC": D(1)}, balances(USDT="5"), TOL, adopt=True)
    assert result.verdict is Verdict.MISMATCH


def test_positions_when_short_reported_then_signed() -> None:
    reported = [position("BTC/USDT:USDT", "0.5", PositionSide.SHORT)]
    result = reconcile_positions({"BTC/USDT:USDT": D("-0.5")}, reported, TOL)
    assert result.verdict is Verdict.MATCH


def test_positions_when_flat_position_left_out_then_match() -> None:
    assert reconcile_positions({}, [], TOL).verdict is Verdict.MATCH
    assert reconcile_positions({"X": D(0)}, [], TOL).verdict is Verdict.MATCH


def test_positions_when_open_position_left_out_then_mismatch() -> None:
    result = reconcile_positions({"BTC/USDT:USDT": D("0.5")}, [], TOL)
    assert result.verdict is Verdict.MISMATCH
    assert result.mismatches[0].kind is DiffKind.POSITION


def test_positions_when_hedge_mode_then_long_and_short_add_up() -> None:
    reported = [
        position("BTC/USDT:USDT", "0.7"),
        position("BTC/USDT:USDT", "0.2", PositionSide.SHORT),
    ]
    assert reconcile_positions({"BTC/USDT:USDT": D("0.5")}, reported, TOL).verdict is (
        Verdict.MATCH
    )


def test_combine_when_any_part_mismatches_then_mismatch() -> None:
    corrected = compare(DiffKind.BALANCE, {"A": D(100)}, {"A": D(100.5)}, TOL)
    broken = compare(DiffKind.BALANCE, {"B": D(1)}, {}, TOL)
    assert combine(corrected, broken).verdict is Verdict.MISMATCH
    assert combine(corrected).verdict is Verdict.CORRECTED
    assert combine().verdict is Verdict.MATCH
