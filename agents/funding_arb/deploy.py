"""When to hold, exit, enter and rotate, and how much capital a unit gets.

Principles (DESIGN.md, "Strategies that would earn"):

- Exit only when holding is expected to lose. A unit's closing cost is paid whenever
  it closes, now or later, so it is not a reason to close; closing and coming back
  costs a re-entry, so a unit is held until its expected carry over the horizon is
  below minus that re-entry cost (minus ``exit_margin``). Entry needs the carry over
  the horizon to beat the whole round trip plus ``entry_margin``: the gap between the
  two bars is the hysteresis.
- Rotate only when the new unit beats the old by more than the switch costs: per
  unit of capital, the new unit's expected carry over the horizon must exceed the old
  one's by its own round trip plus the old unit's close plus ``rotation_margin``.
- Deploy the budget, not a unit count: candidates are taken best value per unit of
  capital first, each up to ``max_unit_capital`` of the budget, until the budget less
  ``reserve`` is used; a unit's capital counts its margin (``view.capital_per_notional``).
- Each market belongs to at most one unit, so a venue position is one unit's leg.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal

from agents.funding_arb.config import FundingArbConfig
from agents.funding_arb.failures import blocked, enabled_again
from agents.funding_arb.model import Evaluation, ExitNote, FailureRecord, Leg, Unit, UnitKind
from agents.funding_arb.sizing import delta_neutral_size, market_rules
from agents.funding_arb.view import (
    HOURS_PER_YEAR,
    View,
    apr_pct,
    borrow_rate,
    bump,
    candidates,
    capital_per_notional,
    cause_fingerprint,
    is_perp,
    unit_carry,
)
from core.money import ZERO

# -- EXITS ---------------------------------------------------------------------


def expected_carry(legs: tuple[Leg, ...], view: View, config: FundingArbConfig) -> Decimal:
    """Return the expected hourly carry of ``legs`` (fraction of one leg's notional)."""
    return unit_carry(legs, view.rates, borrow_rate(config, legs))


def margin_short(unit: Unit, view: View, config: FundingArbConfig) -> bool:
    """Tell whether a perp leg's equity fell below ``margin_keep`` of the margin it posted
    or below ``margin_safety`` times its maintenance margin.

    The leg posted ``1 / perp_leverage`` of its entry notional; a move against it eats
    into that, and its maintenance margin is the market's rate on today's notional.
    """
    for leg, entry in zip(unit.legs, unit.entry_prices, strict=False):
        price = view.price(leg.market)
        rules = market_rules(*leg.market)
        if not is_perp(leg) or price is None or entry <= 0 or rules is None:
            continue
        equity = 1 / config.perp_leverage + leg.sign * (price - entry) / entry
        maintenance = rules.maintenance_margin_rate * price / entry
        floor = max(config.margin_keep / config.perp_leverage, config.margin_safety * maintenance)
        if equity < floor:
            return True
    return False


def exit_reason(unit: Unit, view: View, config: FundingArbConfig) -> str | None:
    """Return why an open unit should close now, or None to hold it."""
    basis = view.basis(unit.legs)
    if basis is not None and abs(basis - unit.entry_basis) > config.basis_stop:
        return "exit_basis_stop"
    if len({leg.venue for leg in unit.legs}) > 1 and margin_short(unit, view, config):
        return "exit_margin_stop"
    if any(is_perp(leg) and leg.market not in view.rates for leg in unit.legs):
        return None  # no estimate yet (a restart): hold rather than exit blind
    carry = expected_carry(unit.legs, view, config)
    reentry = view.trade_cost(unit.legs, config)
    if carry * config.horizon_hours < -(reentry + config.exit_margin):
        return "exit_negative_carry"
    if config.flip_exit:
        predicted = unit_carry(unit.legs, view.predicted, borrow_rate(config, unit.legs))
        if predicted < -config.flip_buffer_per_hour:
            return "exit_predicted_flip"
    return None


def close_unit(
    units: dict[str, Unit],
    unit: Unit,
    reason: str,
    view: View,
    config: FundingArbConfig,
    counters: dict[str, int],
    notes: list[ExitNote],
) -> None:
    """Mark ``unit`` closing for ``reason`` and note the exit."""
    units[unit.key] = replace(unit, status="closing")
    bump(counters, "exits")
    bump(counters, reason)
    carry = expected_carry(unit.legs, view, config)
    notes.append(ExitNote(view.ts_ns, unit.key, reason, round(apr_pct(carry), 3)))


def trim_to_budget(
    units: dict[str, Unit],
    view: View,
    config: FundingArbConfig,
    counters: dict[str, int],
    notes: list[ExitNote],
) -> None:
    """Close the weakest open units while the capital held exceeds the budget (a cut by the
    council): the budget bounds deployment, whatever the carry.

    A budget of zero is taken as not known yet (an agent restarted before its first
    account refresh), never as an order to dump what it holds.
    """
    if view.budget <= 0:
        return
    while True:
        active = [u for u in units.values() if u.status != "closing" and u.kind != "orphan"]
        used = sum((view.unit_capital(u, config) for u in active), ZERO)
        held = [
            (_held_value_per_capital(u, view, config), u.key, u)
            for u in active
            if u.status == "open"
        ]
        if used <= view.budget or not held:
            return
        _, _, weakest = min(held, key=lambda item: (item[0], item[1]))
        close_unit(units, weakest, "exit_budget_cut", view, config, counters, notes)


# -- ENTRIES, ROTATIONS, DEPLOYMENT --------------------------------------------


def _value(legs: tuple[Leg, ...], view: View, config: FundingArbConfig) -> Decimal:
    """Return expected carry over the horizon net of the round trip (fraction of notional)."""
    carry = expected_carry(legs, view, config)
    return carry * config.horizon_hours - 2 * view.trade_cost(legs, config)


def _flip_blocks(legs: tuple[Leg, ...], view: View, config: FundingArbConfig) -> bool:
    predicted = unit_carry(legs, view.predicted, borrow_rate(config, legs))
    return config.flip_exit and predicted < 0


def _held_value_per_capital(unit: Unit, view: View, config: FundingArbConfig) -> Decimal:
    """Return what switching away from ``unit`` gives up per unit of capital: its carry over
    the horizon, plus the close the switch pays now."""
    carry = expected_carry(unit.legs, view, config)
    value = carry * config.horizon_hours + view.trade_cost(unit.legs, config)
    return value / capital_per_notional(unit.legs, config)


def deploy(
    units: dict[str, Unit],
    failures: dict[str, FailureRecord],
    view: View,
    config: FundingArbConfig,
    counters: dict[str, int],
    notes: list[ExitNote],
) -> Evaluation:
    """Enter the best candidates the budget allows, rotate where it pays; return what was seen."""
    budget = view.budget
    all_candidates = candidates(config)
    ranked: list[tuple[Decimal, Decimal, str, tuple[Leg, ...], UnitKind, str]] = []
    why: Counter[str] = Counter()
    untradable: Counter[str] = Counter()
    best: tuple[Decimal, Decimal, str] | None = None  # (value, carry, key) of the best tradable
    tradable = 0
    seen_best: tuple[Decimal, str] | None = None  # best carry among candidates with any estimate
    for key, kind, base, legs in all_candidates:
        if all(leg.market in view.rates for leg in legs if is_perp(leg)):
            carry = expected_carry(legs, view, config)
            if seen_best is None or carry > seen_best[0]:
                seen_best = (carry, key)
        unready = view.untradable(legs)
        if unready is not None:
            untradable[unready] += 1
            continue
        tradable += 1
        value = _value(legs, view, config)
        if best is None or value > best[0]:
            best = (value, expected_carry(legs, view, config), key)
        if key in units:
            continue
        if value <= config.entry_margin:
            continue
        if _flip_blocks(legs, view, config):
            why["predicted_flip"] += 1
            continue
        cause = cause_fingerprint(legs, config)
        record = failures.get(key)
        if record is not None:
            record = failures[key] = enabled_again(record, cause)
        reason = blocked(record, view.ts_ns, cause, config)
        if reason is not None:
            why[reason] += 1
            continue
        per_capital = value / capital_per_notional(legs, config)
        ranked.append((-per_capital, value, key, legs, kind, base))
    ranked.sort(key=lambda item: (item[0], item[2]))

    for _neg_per_capital, _net, key, legs, kind, base in ranked:
        markets = {leg.market for leg in legs}
        if any(
            u.status == "closing" and markets & {leg.market for leg in u.legs}
            for u in units.values()
        ):
            why["market_closing"] += 1
            continue
        conflicts = [
            u
            for u in units.values()
            if u.status != "closing" and markets & {leg.market for leg in u.legs}
        ]
        used = sum((view.unit_capital(u, config) for u in units.values()), ZERO)
        free = budget * (1 - config.reserve) - used
        if conflicts or free < budget * config.min_unit_capital:
            _maybe_rotate(units, conflicts, legs, view, config, counters, notes, why)
            continue  # the freed capacity is used once the old legs are closed
        capital = min(budget * config.max_unit_capital, free)
        notional = capital / capital_per_notional(legs, config)
        if config.max_leg_notional is not None:
            notional = min(notional, config.max_leg_notional)
        rules = tuple(r for leg in legs if (r := market_rules(*leg.market)) is not None)
        prices = tuple(view.quotes[leg.market].price for leg in legs)
        if len(rules) != len(legs):
            continue
        size = delta_neutral_size(notional, prices, rules)
        if size <= 0:
            bump(counters, "too_small")
            why["too_small"] += 1
            continue
        units[key] = Unit(
            key, kind, base, legs, size, "opening", view.basis(legs) or ZERO, 0, view.ts_ns, prices
        )
        bump(counters, "entries")

    active = [u for u in units.values() if u.status != "closing" and u.kind != "orphan"]
    deployed = sum((view.unit_capital(u, config) for u in active), ZERO)
    per_year = HOURS_PER_YEAR / config.horizon_hours * 100
    return Evaluation(
        candidates=len(all_candidates),
        tradable=tradable,
        best_unit=best[2] if best else None,
        best_carry_apr_pct=round(apr_pct(best[1]), 3) if best else None,
        best_net_apr_pct=round(float(best[0] * per_year), 3) if best else None,
        entry_apr_pct=round(float(config.entry_margin * per_year), 3),
        blocked=tuple(sorted(why.items())),
        deployed_fraction=round(float(deployed / budget), 4) if budget > 0 else 0.0,
        active_units=len(active),
        untradable=tuple(sorted(untradable.items())),
        seen_unit=seen_best[1] if seen_best else None,
        seen_carry_apr_pct=round(apr_pct(seen_best[0]), 3) if seen_best else None,
    )


def _maybe_rotate(
    units: dict[str, Unit],
    conflicts: list[Unit],
    legs: tuple[Leg, ...],
    view: View,
    config: FundingArbConfig,
    counters: dict[str, int],
    notes: list[ExitNote],
    why: Counter[str],
) -> None:
    """Close one held unit when the candidate ``legs`` beat it by more than the switch costs.

    Per unit of capital and over the horizon: the candidate's expected carry less its
    round trip, against the held unit's expected carry less its close now, by more
    than ``rotation_margin``.
    """
    new_per_capital = _value(legs, view, config) / capital_per_notional(legs, config)
    if len(conflicts) > 1:
        why["conflicts"] += 1
        return
    pool = conflicts or [u for u in units.values() if u.status == "open" and u.kind != "orphan"]
    held = [
        (_held_value_per_capital(u, view, config), u.key, u)
        for u in pool
        if u.status == "open"
        and all(leg.market in view.rates or not is_perp(leg) for leg in u.legs)
    ]
    if not held:
        why["budget_used" if not conflicts else "market_in_use"] += 1
        return
    held_value, _, victim = min(held, key=lambda item: (item[0], item[1]))
    if new_per_capital - held_value <= config.rotation_margin:
        why["budget_used" if not conflicts else "market_in_use"] += 1
        return
    bump(counters, "rotations")
    close_unit(units, victim, "exit_rotation", view, config, counters, notes)
