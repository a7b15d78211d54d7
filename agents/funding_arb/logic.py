"""The funding-arbitrage core: ``decide(state, snapshot, config) -> (state, actions)``.

Pure: no clock, no I/O; the same inputs give the same outputs and intent ids.

Units. A unit is two legs held as one delta-neutral position: spot-perp on one
venue (long spot / short perp; the reverse only where the venue lends the base)
or perp-perp across venues, including the 1-hour venue (Hyperliquid) beside the
8-hour ones (long where funding is low, short where it is high). Each market
belongs to at most one unit, so the gateway's position on a market is exactly
that unit's leg.

Each decide: ingest funding prints into per-market hourly-rate estimators; close
units expected to lose (``deploy.exit_reason``); enter or rotate within the budget
and margin (``deploy.deploy``); then reconcile every unit's legs against the
snapshot's positions. Reconciliation is where a failed or partial leg is handled:
a leg short of its target is completed (hedge) for up to ``max_hedge_attempts``
decides, after which the unit is unwound and the failure recorded
(``failures``: cooldown, daily cap, disabled until its cause changes). Closing
orders never cross zero: a perp close is reduce-only, a spot close sells (or buys
back) at most what is held. Every order is a taker market order.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.funding_arb.config import FundingArbConfig
from agents.funding_arb.deploy import close_unit, deploy, exit_reason, trim_to_budget
from agents.funding_arb.failures import record_failure, record_success
from agents.funding_arb.model import ExitNote, FundingArbState, Leg, Snapshot, Unit
from agents.funding_arb.sizing import market_rules, to_order_units
from agents.funding_arb.view import (
    View,
    bump,
    candidates,
    cause_fingerprint,
    expected_rate,
    predicted_rate,
    unit_carry,
    update_estimate,
    valid_print,
)
from core.models import OrderType, Side
from core.money import ZERO
from exchanges.paper.rules import MarketRules
from gateway.intents import OrderIntent

__all__ = [
    "candidates",
    "decide",
    "expected_rate",
    "leg_order",
    "predicted_rate",
    "rebuild_units",
    "reconcile",
    "unit_carry",
    "update_estimate",
]

# -- RESTART -------------------------------------------------------------------


def rebuild_units(view: View, config: FundingArbConfig) -> dict[str, Unit]:
    """Restore units from positions alone: pair opposite legs, unwind what pairs with nothing."""
    remaining = {k: v for k, v in view.positions.items() if v != 0}
    units: dict[str, Unit] = {}
    for key, kind, base, legs in candidates(config):
        if any(
            leg.market not in remaining or remaining[leg.market] * leg.sign <= 0 for leg in legs
        ):
            continue
        rules = tuple(market_rules(*leg.market) for leg in legs)
        sizes = [abs(remaining[leg.market]) for leg in legs]
        if None in rules:
            continue
        size = min(sizes)
        for leg in legs:
            del remaining[leg.market]
        prices = tuple(view.price(leg.market) or ZERO for leg in legs)
        units[key] = Unit(
            key, kind, base, legs, size, "open", view.basis(legs) or ZERO, 0, view.ts_ns, prices
        )
    for market, amount in sorted(remaining.items()):
        units[_orphan_key(market)] = _orphan(market, amount)
    return units


def _orphan_key(market: tuple[str, str]) -> str:
    return f"orphan:{market[0]}:{market[1]}"


def _orphan(market: tuple[str, str], amount: Decimal) -> Unit:
    leg = Leg(market[0], market[1], 1 if amount > 0 else -1)
    return Unit(_orphan_key(market), "orphan", market[1].split("/")[0], (leg,), ZERO, "closing")


# -- ORDERS --------------------------------------------------------------------


def _order(
    config: FundingArbConfig,
    ts_ns: int,
    unit: Unit,
    leg: Leg,
    side: Side,
    base_amount: Decimal,
    closing: bool,
    rules: MarketRules,
) -> PlaceOrder | None:
    amount = to_order_units(base_amount, rules)
    if amount <= 0 or amount < rules.min_amount:
        return None
    role = "long" if leg.sign > 0 else "short"
    intent = OrderIntent(
        agent_id=config.agent_id,
        intent_id=f"{ts_ns}.{unit.key}.{role}",
        venue=leg.venue,
        symbol=leg.symbol,
        side=side,
        type=OrderType.MARKET,
        amount=amount,
        reduce_only=closing and not rules.is_spot,
    )
    return PlaceOrder(intent)


def leg_order(
    config: FundingArbConfig, ts_ns: int, unit: Unit, leg: Leg, held: Decimal, target: Decimal
) -> PlaceOrder | None:
    """Return the order moving a leg from ``held`` to ``target`` (signed base), never past zero.

    A holding of the wrong sign is closed first (the opening waits for the next
    decide); a reduction is reduce-only on a perp and capped at what is held.
    """
    rules = market_rules(*leg.market)
    if rules is None or held == target:
        return None
    if held != 0 and (target == 0 or (held > 0) != (target > 0) or abs(target) < abs(held)):
        reduce_to = ZERO if target == 0 or (held > 0) != (target > 0) else target
        amount = abs(held) - abs(reduce_to)
        side = Side.SELL if held > 0 else Side.BUY
        return _order(config, ts_ns, unit, leg, side, min(amount, abs(held)), True, rules)
    side = Side.BUY if target > held else Side.SELL
    return _order(config, ts_ns, unit, leg, side, abs(target - held), False, rules)


def reconcile(
    unit: Unit, view: View, config: FundingArbConfig, counters: dict[str, int]
) -> tuple[Unit | None, list[Action]]:
    """Move a unit's legs toward their targets; complete a missing leg or unwind the unit."""
    actions: list[Action] = []
    tolerance = unit.size * config.hedge_tolerance
    off = []
    for leg in unit.legs:
        target = leg.sign * unit.size if unit.status != "closing" else ZERO
        held = view.held(leg.market)
        rules = market_rules(*leg.market)
        lot = rules.amount_step * rules.contract_size if rules else ZERO
        gap = abs(target - held)
        if gap > 0 and (unit.status == "closing" or gap > tolerance) and gap >= lot:
            off.append((leg, held, target))
    if not off:
        if unit.status == "closing":
            bump(counters, "closed")
            return None, actions
        return replace(unit, status="open", hedge_attempts=0), actions
    if any(leg.market in view.busy for leg, _, _ in off):
        return unit, actions  # an order is still working on it: wait for it to settle
    if unit.status != "closing":
        if unit.status == "open":
            bump(counters, "rebalances")
            unit = replace(unit, status="opening", hedge_attempts=0)
        elif unit.hedge_attempts >= config.max_hedge_attempts:
            bump(counters, "unwinds")
            unit = replace(unit, status="closing")
            return reconcile(unit, view, config, counters)
        elif unit.hedge_attempts > 0:
            bump(counters, "hedges")
        unit = replace(unit, hedge_attempts=unit.hedge_attempts + 1)
    for leg, held, target in off:
        order = leg_order(config, view.ts_ns, unit, leg, held, target)
        if order is not None:
            actions.append(order)
    return unit, actions


# -- DECIDE --------------------------------------------------------------------


def decide(
    state: FundingArbState, snapshot: Snapshot, config: FundingArbConfig
) -> tuple[FundingArbState, list[Action]]:
    """Return the next state and the orders to place or cancel for ``snapshot``.

    A bad snapshot (a position that is not a number, an unknown market held, a
    non-finite budget) changes nothing and orders nothing. Bad prints and prices
    are skipped; a stale price or estimate blocks new entries on its market but
    never a close.
    """
    counters = dict(state.counters)
    estimates = dict(state.estimates)
    for event in snapshot.funding:
        market = (event.venue, event.symbol)
        if not valid_print(event):
            bump(counters, "bad_prints")
            continue
        estimates[market] = update_estimate(estimates.get(market), event, config)
    state = replace(state, estimates=estimates, counters=counters, exits=())
    view = View(snapshot, state, config)
    if not view.valid:
        bump(counters, "bad_snapshots")
        return state, []

    actions: list[Action] = []
    for order in snapshot.open_orders:
        if snapshot.ts_ns - order.placed_ns > config.order_timeout_ns:
            actions.append(CancelOrder(order.intent_id))

    units = dict(state.units) if state.rebuilt else rebuild_units(view, config)
    # A holding no unit accounts for (a leg filled after its unit closed) is unwound.
    claimed = {leg.market for unit in units.values() for leg in unit.legs}
    for market, amount in sorted(view.positions.items()):
        if amount != 0 and market not in claimed:
            units[_orphan_key(market)] = _orphan(market, amount)

    notes: list[ExitNote] = []
    for unit in list(units.values()):
        if unit.status == "open":
            reason = exit_reason(unit, view, config)
            if reason is not None:
                close_unit(units, unit, reason, view, config, counters, notes)

    # A closing unit already flat frees its capital and markets before new entries.
    for key, unit in list(units.items()):
        if unit.status == "closing" and all(
            view.held(leg.market) == 0 and leg.market not in view.busy for leg in unit.legs
        ):
            bump(counters, "closed")
            del units[key]

    trim_to_budget(units, view, config, counters, notes)
    failures = dict(state.failures)
    evaluation = deploy(units, failures, view, config, counters, notes)

    for key, unit in sorted(units.items()):
        unwinds = counters.get("unwinds", 0)
        updated, unit_actions = reconcile(unit, view, config, counters)
        actions.extend(unit_actions)
        if counters.get("unwinds", 0) > unwinds:  # a leg could not be completed
            cause = cause_fingerprint(unit.legs, config)
            failures[key] = record_failure(failures.get(key), view.ts_ns, cause, config)
            if failures[key].disabled_cause is not None:
                bump(counters, "disabled")
        elif unit.status == "opening" and updated is not None and updated.status == "open":
            success = record_success(failures.get(key))
            if success is not None:
                failures[key] = success
        if updated is None:
            del units[key]
        else:
            units[key] = updated
    new_state = replace(
        state,
        units=units,
        rebuilt=True,
        counters=counters,
        failures=failures,
        evaluation=evaluation,
        exits=tuple(notes),
    )
    return new_state, actions
