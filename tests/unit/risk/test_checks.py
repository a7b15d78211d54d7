from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from core.models import OrderType, Side
from gateway.intents import OrderIntent
from risk.checks import (
    Approval,
    Denial,
    DenialReason,
    RiskContext,
    check_market,
    pre_trade_check,
    validate_client_order_id,
    validate_intent_fields,
)
from risk.limits import RiskLimits
from tests.unit.gateway.engine_support import MARKETS, MID, PERP, PERP_MARKET, SPOT, SPOT_MARKET

D = Decimal
R = DenialReason
STEP = D("0.00000001")
CTX = RiskContext(
    venue_known=True,
    reference_price=MID,
    reference_age_ns=0,
    position=D(0),
    pending_buy=D(0),
    pending_sell=D(0),
    free_budget=D(10_000),
    recent_orders=0,
)


def intent(**changes: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "agent_id": "mm",
        "intent_id": "i1",
        "venue": "paper",
        "symbol": SPOT,
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "amount": D("0.01"),
        "price": D("59990"),
    }
    return OrderIntent.model_construct(**(fields | changes))


def check(
    limits: RiskLimits | None = None, *, ctx: RiskContext = CTX, **changes: Any
) -> Denial | Approval:
    subject = intent(**changes)
    denial = validate_intent_fields(subject)
    if denial is not None:
        return denial
    market = MARKETS.get((subject.venue, subject.symbol))
    ctx = replace(ctx, venue_known=any(v == subject.venue for v, _ in MARKETS))
    return pre_trade_check(subject, market, ctx, limits or RiskLimits(), STEP)


def reason(result: Denial | Approval) -> DenialReason | None:
    return result.reason if isinstance(result, Denial) else None


# -- FIELDS -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"amount": D("NaN")}, R.INVALID_AMOUNT),
        ({"amount": D("Infinity")}, R.INVALID_AMOUNT),
        ({"amount": D("-0.01")}, R.INVALID_AMOUNT),
        ({"amount": D(0)}, R.INVALID_AMOUNT),
        ({"amount": 0.01}, R.INVALID_AMOUNT),
        ({"amount": None}, R.INVALID_AMOUNT),
        ({"price": D("NaN")}, R.INVALID_PRICE),
        ({"price": D("-Infinity")}, R.INVALID_PRICE),
        ({"price": D(-1)}, R.INVALID_PRICE),
        ({"price": D(0)}, R.INVALID_PRICE),
        ({"price": None}, R.INVALID_PRICE),
        ({"type": "stop_limit"}, R.UNKNOWN_ORDER_TYPE),
        ({"type": ["limit"]}, R.UNKNOWN_ORDER_TYPE),
        ({"side": "long"}, R.INVALID_FIELD),
        ({"time_in_force": "GTX"}, R.INVALID_FIELD),
        ({"post_only": "yes"}, R.INVALID_FIELD),
        ({"type": "market", "price": None, "post_only": True}, R.INVALID_FIELD),
        ({"agent_id": "Bad Agent"}, R.MALFORMED_ID),
        ({"agent_id": None}, R.MALFORMED_ID),
        ({"intent_id": "a b"}, R.MALFORMED_ID),
        ({"intent_id": ""}, R.MALFORMED_ID),
        ({"venue": ""}, R.INVALID_FIELD),
    ],
)
def test_fields_when_invalid_then_denied_with_reason_and_field(
    changes: dict[str, Any], expected: DenialReason
) -> None:
    denial = validate_intent_fields(intent(**changes))
    assert denial is not None
    assert denial.reason is expected
    assert denial.field in denial.message


def test_fields_when_plain_strings_for_enums_then_accepted() -> None:
    assert validate_intent_fields(intent(side="sell", type="limit", time_in_force="IOC")) is None


def test_client_order_id_when_malformed_then_denied() -> None:
    assert validate_client_order_id("sw-bad_id") is not None
    assert validate_client_order_id("x" * 33) is not None
    assert validate_client_order_id(None) is not None
    assert validate_client_order_id("swAbc123") is None


# -- MARKET RULES -------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"venue": "nowhere"}, R.UNKNOWN_VENUE),
        ({"symbol": "DOGE/USDT"}, R.UNKNOWN_SYMBOL),
        ({"price": D("59990.005")}, R.OFF_TICK),
        ({"amount": D("0.00015")}, R.OFF_LOT),
        ({"reduce_only": True}, R.REDUCE_ONLY_ON_SPOT),
    ],
)
def test_market_when_rule_broken_then_denied(
    changes: dict[str, Any], expected: DenialReason
) -> None:
    assert reason(check(**changes)) is expected


def test_min_notional_when_below_at_the_limit_price_then_denied() -> None:
    strict = SPOT_MARKET.model_copy(update={"min_cost": D(600)})
    limits = RiskLimits()
    passing = pre_trade_check(intent(amount=D("0.0101")), strict, CTX, limits, STEP)
    assert isinstance(passing, Approval)
    failing = pre_trade_check(intent(), strict, CTX, limits, STEP)
    assert reason(failing) is R.BELOW_MIN_NOTIONAL


def test_market_when_inactive_or_inverse_then_denied() -> None:
    inactive = SPOT_MARKET.model_copy(update={"active": False})
    assert check_market(intent(), inactive, True).reason is R.MARKET_INACTIVE  # type: ignore[union-attr]
    inverse = PERP_MARKET.model_copy(update={"linear": False, "inverse": True})
    denial = check_market(intent(symbol=PERP, price=D("59990.0")), inverse, True)
    assert denial is not None and denial.reason is R.UNSUPPORTED_MARKET


def test_market_when_below_min_amount_or_above_max_then_denied() -> None:
    strict = SPOT_MARKET.model_copy(update={"min_amount": D("0.001"), "max_amount": D(1)})
    low = check_market(intent(amount=D("0.0005")), strict, True)
    high = check_market(intent(amount=D(2)), strict, True)
    assert low is not None and low.reason is R.BELOW_MIN_AMOUNT
    assert high is not None and high.reason is R.ABOVE_MAX_AMOUNT


# -- PRICE BAND AND REFERENCE -------------------------------------------------


def test_reference_when_missing_then_market_denied_and_limit_per_config() -> None:
    no_mid = replace(CTX, reference_price=None, reference_age_ns=None)
    market_order: dict[str, Any] = {"type": OrderType.MARKET, "price": None}
    assert reason(check(ctx=no_mid, **market_order)) is R.NO_REFERENCE_PRICE
    assert reason(check(ctx=no_mid)) is R.NO_REFERENCE_PRICE
    lenient = RiskLimits(require_reference_for_limit=False)
    assert reason(check(lenient, ctx=no_mid)) is None
    assert reason(check(lenient, ctx=no_mid, **market_order)) is R.NO_REFERENCE_PRICE


def test_reference_when_stale_then_treated_as_missing() -> None:
    limits = RiskLimits(reference_max_age_ns=1_000)
    assert reason(check(limits, ctx=replace(CTX, reference_age_ns=999))) is None
    assert reason(check(limits, ctx=replace(CTX, reference_age_ns=1_001))) is (R.NO_REFERENCE_PRICE)


@pytest.mark.parametrize(
    ("price", "denied"),
    [("63000", False), ("63000.01", True), ("57000", False), ("56999.99", True)],
)
def test_band_when_limit_price_far_from_mid_then_denied(price: str, denied: bool) -> None:
    result = check(amount=D("0.001"), price=D(price))
    assert (reason(result) is R.PRICE_OUTSIDE_BAND) is denied


# -- CAPS, POSITION, RATE, BUDGET ---------------------------------------------


def test_notional_cap_when_order_too_large_then_denied() -> None:
    limits = RiskLimits(max_order_notional=D(500))
    assert reason(check(limits, amount=D("0.0083"))) is None
    assert reason(check(limits, amount=D("0.0084"))) is R.ORDER_NOTIONAL_CAP


def test_position_cap_when_worst_case_counts_open_orders_then_denied() -> None:
    limits = RiskLimits(max_position_notional=D(1000))
    assert reason(check(limits, amount=D("0.016"))) is None
    with_pending = replace(CTX, pending_buy=D("0.01"))
    assert reason(check(limits, ctx=with_pending, amount=D("0.007"))) is R.POSITION_CAP


def test_position_cap_when_order_reduces_then_allowed() -> None:
    limits = RiskLimits(max_position_notional=D(100))
    short = replace(CTX, position=D("-0.05"))
    result = check(limits, ctx=short, symbol=PERP, price=D("59990.0"), amount=D("0.05"))
    assert isinstance(result, Approval) and result.reduces


def test_spot_sell_when_more_than_free_holdings_then_denied() -> None:
    holding = replace(CTX, position=D("0.02"), pending_sell=D("0.015"))
    assert reason(check(ctx=holding, side=Side.SELL, amount=D("0.005"), price=D("60010"))) is None
    assert reason(check(ctx=holding, side=Side.SELL, amount=D("0.006"), price=D("60010"))) is (
        R.INSUFFICIENT_POSITION
    )


def test_reduce_only_when_it_would_open_then_denied() -> None:
    long = replace(CTX, position=D("0.01"))
    args: dict[str, Any] = {
        "symbol": PERP,
        "side": Side.SELL,
        "price": D("60010.0"),
        "reduce_only": True,
    }
    assert isinstance(check(ctx=long, amount=D("0.01"), **args), Approval)
    assert reason(check(ctx=long, amount=D("0.02"), **args)) is R.REDUCE_ONLY_WOULD_INCREASE


def test_rate_when_window_full_then_denied() -> None:
    limits = RiskLimits(max_orders_per_window=3)
    assert reason(check(limits, ctx=replace(CTX, recent_orders=2))) is None
    assert reason(check(limits, ctx=replace(CTX, recent_orders=3))) is R.ORDER_RATE


def test_budget_when_reservation_exceeds_free_then_denied_but_reducing_passes() -> None:
    assert isinstance(check(ctx=replace(CTX, free_budget=D("600.4999"))), Approval)
    poor = replace(CTX, free_budget=D("600.4998"))
    assert reason(check(ctx=poor)) is R.INSUFFICIENT_BUDGET
    assert isinstance(check(ctx=poor, amount=D("0.005")), Approval)
    broke = replace(CTX, free_budget=D(-50), position=D("0.01"))
    assert isinstance(check(ctx=broke, side=Side.SELL, price=D("60010")), Approval)


def test_reservation_when_spot_buy_then_notional_plus_taker_fee() -> None:
    result = check()
    assert isinstance(result, Approval)
    assert result.reservation == D("599.9") + D("0.5999")
    assert not result.reduces


def test_reservation_when_market_buy_then_at_the_band_edge() -> None:
    result = check(type=OrderType.MARKET, price=None, amount=D("0.001"))
    assert isinstance(result, Approval)
    edge = MID * D("1.05") * D("0.001")
    assert result.reservation == edge + edge * D("0.001")


def test_reservation_when_perp_partly_closes_then_fee_only_on_closing_part() -> None:
    short = replace(CTX, position=D("-0.004"))
    result = check(ctx=short, symbol=PERP, price=D("60000.0"), amount=D("0.01"))
    assert isinstance(result, Approval)
    opening, closing = D("0.006") * MID, D("0.004") * MID
    assert result.reservation == opening + (opening + closing) * D("0.0005")
