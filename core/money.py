"""Decimal money, prices and quantities, and their quantization to a market's grid.

Floats never carry money in Swarm. Values enter as ``Decimal``, ``int`` or a
decimal string; a float is refused (it has already lost the exact value), except
at the one boundary that must take floats from a library, which calls
``decimal_from_float`` on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from core.errors import InvalidValue

ZERO = Decimal(0)
ONE = Decimal(1)

Rounding = Literal["down", "up", "nearest"]
_ROUNDING = {"down": ROUND_DOWN, "up": ROUND_UP, "nearest": ROUND_HALF_EVEN}


def to_decimal(value: Any, field: str = "value") -> Decimal:
    """Return ``value`` as a finite Decimal, or raise ``InvalidValue`` naming ``field``.

    Accept Decimal, int and decimal strings; refuse floats, bools, NaN and infinities.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise InvalidValue(field, value, "a bool is not a number")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidValue(field, value, "not a decimal number") from None
    elif isinstance(value, float):
        raise InvalidValue(field, value, "floats are not accepted for money; pass a str or Decimal")
    else:
        raise InvalidValue(field, value, f"expected a decimal number, got {type(value).__name__}")
    if not result.is_finite():
        raise InvalidValue(field, value, "must be finite (not NaN or infinity)")
    return result


def decimal_from_float(value: float | int | str | None, field: str = "value") -> Decimal | None:
    """Convert a library's float to the Decimal of its shortest repr (``0.1`` -> ``Decimal('0.1')``).

    Use only at a boundary whose library hands out floats (ccxt's parsed fields).
    """
    if value is None:
        return None
    if isinstance(value, float):
        return to_decimal(repr(value), field)
    return to_decimal(value, field)


def positive(value: Decimal, field: str) -> Decimal:
    """Return ``value`` if it is > 0, else raise ``InvalidValue``."""
    if value <= 0:
        raise InvalidValue(field, value, "must be > 0")
    return value


def non_negative(value: Decimal, field: str) -> Decimal:
    """Return ``value`` if it is >= 0, else raise ``InvalidValue``."""
    if value < 0:
        raise InvalidValue(field, value, "must be >= 0")
    return value


def quantize_to_step(value: Decimal, step: Decimal, rounding: Rounding = "nearest") -> Decimal:
    """Round ``value`` to a multiple of ``step`` (a tick or a lot), exactly.

    The result carries the step's exponent, so ``quantize_to_step(Decimal("1.234"),
    Decimal("0.01"), "down") == Decimal("1.23")``. Steps need not be powers of ten
    (``0.5`` and ``25`` work).
    """
    if step <= 0:
        raise InvalidValue("step", step, "must be > 0")
    units = (value / step).quantize(ONE, rounding=_ROUNDING[rounding])
    return units * step


def is_multiple_of(value: Decimal, step: Decimal) -> bool:
    """Return whether ``value`` lies exactly on the grid of ``step``."""
    return step > 0 and (value % step) == 0


def _validate_decimal(value: Any) -> Decimal:
    return to_decimal(value, "value")


Dec = Annotated[Decimal, BeforeValidator(_validate_decimal)]
"""A pydantic field type: a finite Decimal that refuses floats, NaN and infinities."""


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of one currency. Arithmetic across currencies is an error."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount, "amount"))
        if not self.currency:
            raise InvalidValue("currency", self.currency, "must not be empty")

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidValue("currency", other.currency, f"cannot combine with {self.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
