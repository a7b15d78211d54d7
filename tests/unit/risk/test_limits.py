from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from risk.limits import ReconcileTolerance, RiskLimits


def test_limits_when_defaults_then_valid_and_band_as_fraction() -> None:
    limits = RiskLimits()
    assert limits.price_band == Decimal("0.05")
    assert limits.reconciliation.relative == Decimal("0.01")


def test_limits_when_unknown_key_then_error_names_it() -> None:
    with pytest.raises(ValidationError, match="max_order_notionl"):
        RiskLimits.model_validate({"max_order_notionl": "5"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_order_notional", "0"),
        ("max_position_notional", "-1"),
        ("price_band_bps", "0"),
        ("price_band_bps", "10000"),
        ("max_drawdown_fraction_agent", "0"),
        ("max_drawdown_fraction_total", "1.5"),
        ("max_orders_per_window", 0),
        ("order_rate_window_ns", 0),
        ("reference_max_age_ns", 0),
        ("max_order_notional", 1.5),
    ],
)
def test_limits_when_value_out_of_range_then_refused(key: str, value: object) -> None:
    with pytest.raises(ValidationError):
        RiskLimits.model_validate({key: value})


def test_tolerance_when_out_of_range_then_refused() -> None:
    with pytest.raises(ValidationError):
        ReconcileTolerance(relative=Decimal(1))
    with pytest.raises(ValidationError):
        ReconcileTolerance(absolute=Decimal(-1))
