"""Pure helpers: hourly rates, EWMA updates, lots common to two markets, delta-neutral sizes."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from math import lcm

from core.errors import InvalidValue
from core.money import ZERO, quantize_to_step
from exchanges.paper.rules import MarketRules, venue_rules

_HALF = Decimal("0.5")


@lru_cache(maxsize=256)
def market_rules(venue: str, symbol: str) -> MarketRules | None:
    """Return the venue rules of one market, or None where the tables have none."""
    try:
        return venue_rules(venue).market(symbol)
    except InvalidValue:
        return None


def base_lot(rules: MarketRules) -> Decimal:
    """Return the smallest tradable step of ``rules`` in base units."""
    return rules.amount_step * rules.contract_size


def hourly_rate(rate: Decimal, interval_hours: Decimal) -> Decimal:
    """Return a funding print's rate per hour: 0.0001 per 8h is 0.0000125 per hour."""
    if interval_hours <= 0:
        raise InvalidValue("interval_hours", interval_hours, "must be > 0")
    return rate / interval_hours


def ewma_weight(halflife_hours: Decimal, elapsed_hours: Decimal) -> Decimal:
    """Return the weight of a print covering ``elapsed_hours`` in an EWMA of that half-life.

    Time-based, so an 8h print moves the estimate as much as eight 1h prints of
    the same rate would: venues with different intervals are comparable.
    """
    keep = _HALF ** (elapsed_hours / halflife_hours)
    return 1 - keep


def common_lot(step_a: Decimal, step_b: Decimal) -> Decimal:
    """Return the least common multiple of two decimal lot steps (0.001 and 0.00001 -> 0.001)."""
    if step_a <= 0 or step_b <= 0:
        raise InvalidValue("step", min(step_a, step_b), "must be > 0")
    exponent = min(step_a.as_tuple().exponent, step_b.as_tuple().exponent, 0)
    assert isinstance(exponent, int)
    scale = Decimal(10) ** -exponent
    units = lcm(int(step_a * scale), int(step_b * scale))
    return Decimal(units) / scale


def delta_neutral_size(
    notional: Decimal, prices: tuple[Decimal, ...], legs: tuple[MarketRules, ...]
) -> Decimal:
    """Return the base size both legs can trade for ``notional``, or 0 if none fits the rules.

    Sized at the highest leg price (so no leg exceeds ``notional``), rounded down to
    the lot both markets accept, and checked against each market's minimum amount
    and minimum cost.
    """
    if notional <= 0 or not prices or min(prices) <= 0:
        return ZERO
    lot = base_lot(legs[0])
    for rules in legs[1:]:
        lot = common_lot(lot, base_lot(rules))
    size = quantize_to_step(notional / max(prices), lot, "down")
    for rules, price in zip(legs, prices, strict=True):
        if size < rules.min_amount * rules.contract_size or size * price < rules.min_cost:
            return ZERO
    return size


def to_order_units(base_size: Decimal, rules: MarketRules) -> Decimal:
    """Return ``base_size`` in the market's order units, rounded down to its lot."""
    return quantize_to_step(base_size / rules.contract_size, rules.amount_step, "down")
