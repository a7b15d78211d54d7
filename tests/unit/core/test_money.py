from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidValue
from core.money import Money, decimal_from_float, is_multiple_of, quantize_to_step, to_decimal


@pytest.mark.parametrize("value", ["1.5", Decimal("1.5"), 3, " 2.25 "])
def test_to_decimal_when_decimal_like_then_exact(value: object) -> None:
    assert to_decimal(value) == Decimal(str(value).strip())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (1.5, "floats"),
        ("nan", "finite"),
        (Decimal("NaN"), "finite"),
        ("inf", "finite"),
        (Decimal("-Infinity"), "finite"),
        ("abc", "not a decimal"),
        (True, "bool"),
        (None, "expected a decimal"),
    ],
)
def test_to_decimal_when_bad_then_invalid_value_names_field(value: object, reason: str) -> None:
    with pytest.raises(InvalidValue) as exc:
        to_decimal(value, "price")
    assert exc.value.field == "price"
    assert reason in str(exc.value)
    assert "price=" in str(exc.value)


def test_decimal_from_float_when_float_then_shortest_repr() -> None:
    assert decimal_from_float(0.1) == Decimal("0.1")
    assert decimal_from_float(61800.3) == Decimal("61800.3")
    assert decimal_from_float(None) is None
    with pytest.raises(InvalidValue):
        decimal_from_float(float("nan"), "amount")


@pytest.mark.parametrize(
    ("value", "step", "rounding", "expected"),
    [
        ("1.234", "0.01", "down", "1.23"),
        ("1.235", "0.01", "up", "1.24"),
        ("1.235", "0.01", "nearest", "1.24"),  # half-even: 123.5 -> 124
        ("1.225", "0.01", "nearest", "1.22"),
        ("61.74", "0.5", "nearest", "61.5"),
        ("61.76", "0.5", "nearest", "62.0"),
        ("1234", "25", "down", "1225"),
        ("0.0009", "0.001", "down", "0.000"),
    ],
)
def test_quantize_to_step_when_off_grid_then_rounded_to_step(
    value: str, step: str, rounding: str, expected: str
) -> None:
    result = quantize_to_step(Decimal(value), Decimal(step), rounding)  # type: ignore[arg-type]
    assert result == Decimal(expected)
    assert is_multiple_of(result, Decimal(step))


def test_quantize_to_step_when_step_not_positive_then_invalid() -> None:
    with pytest.raises(InvalidValue):
        quantize_to_step(Decimal(1), Decimal(0))


@given(
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**7), places=6),
    st.sampled_from(["0.01", "0.1", "0.5", "0.001", "1", "25"]),
)
def test_quantize_to_step_property_on_grid_and_within_one_step(value: Decimal, step: str) -> None:
    s = Decimal(step)
    down = quantize_to_step(value, s, "down")
    up = quantize_to_step(value, s, "up")
    assert is_multiple_of(down, s) and is_multiple_of(up, s)
    assert down <= value <= up
    assert up - down in (Decimal(0), s)


def test_money_when_same_currency_then_adds_and_when_other_then_refused() -> None:
    total = Money(Decimal("1.5"), "USDT") + Money(Decimal("2"), "USDT")
    assert total == Money(Decimal("3.5"), "USDT")
    with pytest.raises(InvalidValue, match="currency"):
        _ = Money(Decimal(1), "USDT") - Money(Decimal(1), "BTC")
