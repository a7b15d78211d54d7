"""The funding-arbitrage core: ``decide(state, snapshot, config) -> (state, actions)``.

Pure: no clock, no I/O; the same inputs give the same outputs and intent ids.

Units. A unit is two legs held as one delta-neutral position: spot-perp on one
venue (long spot / short perp; the reverse only where the venue lends the base)
or perp-perp across venues (long where funding is low, short where it is high).
Each market belongs to at most one unit, so the gateway's position on a market
is exactly that unit's leg.

Each decide: ingest funding prints into per-market hourly-rate estimators; drop
units whose carry no longer pays (exit, basis stop, predicted sign flip);
rotate into better units or enter new ones within the caps; then reconcile every
unit's legs against the snapshot's positions. Reconciliation is where a failed
or partial leg is handled: a leg short of its target is completed (hedge) for up
to ``max_hedge_attempts`` decides, after which the unit is unwound. Closing
orders never cross zero: a perp close is reduce-only, a spot close sells (or
buys back) at most what is held.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.funding_arb.config import FundingArbConfig
from agents.funding_arb.model import (
    FundingArbState,
    Leg,
    MarketKey,
    Quote,
    RateEstimate,
    Snapshot,
    Unit,
    UnitKind,
)
from agents.funding_arb.sizing import (
    delta_neutral_size,
    ewma_weight,
    hourly_rate,
    market_rules,
    to_order_units,
)
from core.events import FundingEvent
from core.models import OrderType, Side
from core.money import ZERO
from exchanges.paper.rules import MarketRules
from gateway.intents import OrderIntent

_MAX_ABS_RATE = Decimal("0.05")  # a print beyond 5% per interval is a data error, not a market


def _bump(counters: dict[str, int], name: str, by: int = 1) -> None:
    counters[name] = counters.get(name, 0) + by


# -- ESTIMATORS ----------------------------------------------------------------


def update_estimate(
    previous: RateEstimate | None, event: FundingEvent, config: FundingArbConfig
) -> RateEstimate:
    """Fold one funding print into a market's hourly-rate estimators."""
    rate = hourly_rate(event.rate, event.interval_hours)
    if previous is None:
        return RateEstimate(rate, rate, rate, 1, event.ts_ns)
    slow_w = ewma_weight(config.ewma_halflife_hours, event.interval_hours)
    fast_w = ewma_weight(config.fast_halflife_hours, event.interval_hours)
    return RateEstimate(
        slow=previous.slow + slow_w * (rate - previous.slow),
        fast=previous.fast + fast_w * (rate - previous.fast),
        last=rate,
        prints=previous.prints + 1,
        updated_ns=event.ts_ns,
    )


def _valid_print(event: FundingEvent) -> bool:
    rate, interval = event.rate, event.interval_hours
    return (
        rate.is_finite()
        and interval.is_finite()
        and interval > 0
        and abs(rate) <= _MAX_ABS_RATE
        and (event.mark_price is None or (event.mark_price.is_finite() and event.mark_price > 0))
    )


def expected_rate(estimate: RateEstimate, config: FundingArbConfig) -> Decimal:
    """Return the expected hourly rate under the configured estimator."""
    return estimate.slow if config.estimator == "ewma" else estimate.last


def predicted_rate(estimate: RateEstimate) -> Decimal:
    """Return the trend-extrapolated hourly rate: fast EWMA plus its lead over the slow one."""
    return 2 * estimate.fast - estimate.slow


def unit_carry(legs: tuple[Leg, ...], rates: dict[MarketKey, Decimal], borrow: Decimal) -> Decimal:
    """Return a unit's hourly carry as a fraction of one leg's notional.

    A short perp receives its rate, a long perp pays it; spot legs earn nothing
    and a short spot leg pays ``borrow``.
    """
    carry = ZERO
    for leg in legs:
        if leg.market in rates:
            carry -= leg.sign * rates[leg.market]
        elif leg.sign < 0:
            carry -= borrow
    return carry


# -- CANDIDATES ----------------------------------------------------------------


def _unit_key(kind: str, base: str, legs: tuple[Leg, ...]) -> str:
    parts = [
        f"{'L' if leg.sign > 0 else 'S'}-{leg.venue}-{'perp' if ':' in leg.symbol else 'spot'}"
        for leg in legs
    ]
    return ":".join(["sp" if kind == "spot_perp" else "pp", base, *parts])


def candidates(config: FundingArbConfig) -> list[tuple[str, UnitKind, str, tuple[Leg, ...]]]:
    """Enumerate every (key, kind, base, legs) unit the configuration allows, in a fixed order."""
    found: list[tuple[str, UnitKind, str, tuple[Leg, ...]]] = []
    venues = sorted(config.venues)
    bases = sorted({b for v in config.venues.values() for b in v.perps})
    for base in bases:
        if "spot_perp" in config.strategies:
            for venue in venues:
                markets = config.venues[venue]
                if base not in markets.perps or base not in markets.spots:
                    continue
                spot, perp = markets.spots[base], markets.perps[base]
                directions = [(1, -1)] + ([(-1, 1)] if markets.spot_borrow_allowed else [])
                for spot_sign, perp_sign in directions:
                    legs = (Leg(venue, spot, spot_sign), Leg(venue, perp, perp_sign))
                    found.append((_unit_key("spot_perp", base, legs), "spot_perp", base, legs))
        if "perp_perp" in config.strategies:
            perps = [
                (v, config.venues[v].perps[base]) for v in venues if base in config.venues[v].perps
            ]
            for long_venue, long_symbol in perps:
                for short_venue, short_symbol in perps:
                    if long_venue == short_venue:
                        continue
                    legs = (Leg(long_venue, long_symbol, 1), Leg(short_venue, short_symbol, -1))
                    found.append((_unit_key("perp_perp", base, legs), "perp_perp", base, legs))
    return found


class _View:
    """The snapshot checked once: valid prices, fresh markets, positions in base units."""

    def __init__(self, snapshot: Snapshot, state: FundingArbState, config: FundingArbConfig):
        self.ts_ns = snapshot.ts_ns
        self.quotes: dict[MarketKey, Quote] = {}
        self.fresh: set[MarketKey] = set()
        for quote in snapshot.quotes:
            key = (quote.venue, quote.symbol)
            if (
                quote.price.is_finite()
                and quote.price > 0
                and quote.spread.is_finite()
                and quote.spread >= 0
            ):
                self.quotes[key] = quote
                if snapshot.ts_ns - quote.ts_ns <= config.stale_quote_ns:
                    self.fresh.add(key)
        self.positions: dict[MarketKey, Decimal] = {}
        self.valid = snapshot.budget.is_finite()
        for position in snapshot.positions:
            key = (position.venue, position.symbol)
            rules = market_rules(*key)
            if not position.amount.is_finite() or rules is None:
                self.valid = False
                continue
            self.positions[key] = (
                self.positions.get(key, ZERO) + position.amount * rules.contract_size
            )
        self.busy = {(o.venue, o.symbol) for o in snapshot.open_orders}
        self.rates = {k: expected_rate(e, config) for k, e in state.estimates.items()}
        self.predicted = {k: predicted_rate(e) for k, e in state.estimates.items()}
        self.ready = {
            k
            for k, e in state.estimates.items()
            if e.prints >= config.min_prints
            and snapshot.ts_ns - e.updated_ns <= config.stale_funding_ns
        }

    def held(self, market: MarketKey) -> Decimal:
        return self.positions.get(market, ZERO)

    def basis(self, legs: tuple[Leg, ...]) -> Decimal | None:
        """Return the short leg's price premium over the long leg's, as a fraction."""
        prices = [
            self.quotes[leg.market].price if leg.market in self.quotes else None for leg in legs
        ]
        if None in prices:
            return None
        long_price = next(p for leg, p in zip(legs, prices, strict=True) if leg.sign > 0)
        short_price = next(p for leg, p in zip(legs, prices, strict=True) if leg.sign < 0)
        assert long_price is not None and short_price is not None
        return (short_price - long_price) / long_price

    def trade_cost(self, legs: tuple[Leg, ...], config: FundingArbConfig) -> Decimal:
        """Return the cost of trading every leg once (taker fee, half spread, slippage)."""
        cost = ZERO
        for leg in legs:
            rules = market_rules(*leg.market)
            quote = self.quotes.get(leg.market)
            cost += (rules.taker_fee if rules else ZERO) + config.slippage
            cost += quote.spread / 2 if quote else ZERO
        return cost


def _borrow(config: FundingArbConfig, legs: tuple[Leg, ...]) -> Decimal:
    return max(
        (
            config.venues[leg.venue].borrow_rate_per_hour
            for leg in legs
            if leg.venue in config.venues
        ),
        default=ZERO,
    )


# -- RESTART -------------------------------------------------------------------


def rebuild_units(view: _View, config: FundingArbConfig) -> dict[str, Unit]:
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
        units[key] = Unit(
            key, kind, base, legs, size, "open", view.basis(legs) or ZERO, 0, view.ts_ns
        )
    for market, amount in sorted(remaining.items()):
        key = f"orphan:{market[0]}:{market[1]}"
        leg = Leg(market[0], market[1], 1 if amount > 0 else -1)
        units[key] = Unit(key, "orphan", market[1].split("/")[0], (leg,), ZERO, "closing")
    return units


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
    unit: Unit, view: _View, config: FundingArbConfig, counters: dict[str, int]
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
            _bump(counters, "closed")
            return None, actions
        return replace(unit, status="open", hedge_attempts=0), actions
    if any(leg.market in view.busy for leg, _, _ in off):
        return unit, actions  # an order is still working on it: wait for it to settle
    if unit.status != "closing":
        if unit.status == "open":
            _bump(counters, "rebalances")
            unit = replace(unit, status="opening", hedge_attempts=0)
        elif unit.hedge_attempts >= config.max_hedge_attempts:
            _bump(counters, "unwinds")
            unit = replace(unit, status="closing")
            return reconcile(unit, view, config, counters)
        elif unit.hedge_attempts > 0:
            _bump(counters, "hedges")
        unit = replace(unit, hedge_attempts=unit.hedge_attempts + 1)
    for leg, held, target in off:
        order = leg_order(config, view.ts_ns, unit, leg, held, target)
        if order is not None:
            actions.append(order)
    return unit, actions


# -- DECIDE --------------------------------------------------------------------


def _exit_reason(unit: Unit, view: _View, config: FundingArbConfig) -> str | None:
    """Return why an open unit should close now, or None to hold it."""
    basis = view.basis(unit.legs)
    if basis is not None and abs(basis - unit.entry_basis) > config.basis_stop:
        return "exit_basis_stop"
    perps = [leg.market for leg in unit.legs if leg.market in view.rates]
    if len(perps) < len([leg for leg in unit.legs if ":" in leg.symbol]):
        return None  # no estimate yet (a restart): hold rather than exit blind
    borrow = _borrow(config, unit.legs)
    carry = unit_carry(unit.legs, view.rates, borrow)
    if carry * config.horizon_hours < view.trade_cost(unit.legs, config) + config.exit_margin:
        return "exit_no_edge"
    if (
        config.flip_exit
        and unit_carry(unit.legs, view.predicted, borrow) < -config.flip_buffer_per_hour
    ):
        return "exit_predicted_flip"
    return None


def _score(legs: tuple[Leg, ...], view: _View, config: FundingArbConfig) -> Decimal | None:
    """Return expected carry over the horizon net of round-trip costs, None if not tradable now."""
    for leg in legs:
        if leg.market not in view.fresh or leg.market in view.busy:
            return None
        if ":" in leg.symbol and leg.market not in view.ready:
            return None
    borrow = _borrow(config, legs)
    if config.flip_exit and unit_carry(legs, view.predicted, borrow) < 0:
        return None  # the trend says the carry is turning: entering now would exit at once
    carry = unit_carry(legs, view.rates, borrow)
    return carry * config.horizon_hours - 2 * view.trade_cost(legs, config)


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
        if not _valid_print(event):
            _bump(counters, "bad_prints")
            continue
        estimates[market] = update_estimate(estimates.get(market), event, config)
    state = replace(state, estimates=estimates, counters=counters)
    view = _View(snapshot, state, config)
    if not view.valid:
        _bump(counters, "bad_snapshots")
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
            leg = Leg(market[0], market[1], 1 if amount > 0 else -1)
            key = f"orphan:{market[0]}:{market[1]}"
            units[key] = Unit(key, "orphan", market[1].split("/")[0], (leg,), ZERO, "closing")

    for key, unit in list(units.items()):
        if unit.status != "open":
            continue
        reason = _exit_reason(unit, view, config)
        if reason is not None:
            _bump(counters, "exits")
            _bump(counters, reason)
            units[key] = replace(unit, status="closing")

    _enter_or_rotate(units, view, config, counters, snapshot.budget)

    for key, unit in sorted(units.items()):
        updated, unit_actions = reconcile(unit, view, config, counters)
        actions.extend(unit_actions)
        if updated is None:
            del units[key]
        else:
            units[key] = updated
    return replace(state, units=units, rebuilt=True, counters=counters), actions


def _enter_or_rotate(
    units: dict[str, Unit],
    view: _View,
    config: FundingArbConfig,
    counters: dict[str, int],
    budget: Decimal,
) -> None:
    """Enter the best candidates that clear the bar; rotate out a weaker unit when capped."""
    scored = []
    for key, kind, base, legs in candidates(config):
        if key in units:
            continue
        score = _score(legs, view, config)
        if score is not None and score > config.entry_margin:
            scored.append((-score, key, kind, base, legs))
    scored.sort()
    for neg_score, key, kind, base, legs in scored:
        used = {leg.market for unit in units.values() for leg in unit.legs}
        if any(leg.market in used for leg in legs):
            continue
        active = [u for u in units.values() if u.status != "closing" and u.kind != "orphan"]
        same_symbol = [u for u in active if u.base == base]
        if len(active) >= config.max_units or len(same_symbol) >= config.max_units_per_symbol:
            pool = same_symbol if len(same_symbol) >= config.max_units_per_symbol else active
            weakest = _weakest(pool, view, config)
            if weakest is None:
                continue
            held_value, victim = weakest
            switch_cost = view.trade_cost(victim.legs, config)
            if -neg_score - switch_cost <= held_value + config.rotation_margin:
                continue
            units[victim.key] = replace(victim, status="closing")
            _bump(counters, "rotations")
            _bump(counters, "exits")
            continue  # the freed capacity is used once the old legs are closed
        rules = tuple(r for leg in legs if (r := market_rules(*leg.market)) is not None)
        prices = tuple(view.quotes[leg.market].price for leg in legs)
        if len(rules) != len(legs):
            continue
        size = delta_neutral_size(budget * config.unit_fraction, prices, rules)
        if size <= 0:
            _bump(counters, "too_small")
            continue
        units[key] = Unit(
            key, kind, base, legs, size, "opening", view.basis(legs) or ZERO, 0, view.ts_ns
        )
        _bump(counters, "entries")


def _weakest(
    pool: list[Unit], view: _View, config: FundingArbConfig
) -> tuple[Decimal, Unit] | None:
    """Return the open unit with the lowest expected carry over the horizon, and that carry."""
    values = []
    for unit in pool:
        if unit.status != "open":
            continue
        carry = unit_carry(unit.legs, view.rates, _borrow(config, unit.legs))
        values.append((carry * config.horizon_hours, unit.key, unit))
    if not values:
        return None
    value, _, unit = min(values)
    return value, unit
