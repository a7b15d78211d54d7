"""What ``decide`` reads from a snapshot: rate estimators, candidate units, prices and costs.

Pure helpers shared by the core (``logic``) and its deployment rules (``deploy``).
"""

from __future__ import annotations

from decimal import Decimal

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
from agents.funding_arb.sizing import ewma_weight, hourly_rate, market_rules
from core.events import FundingEvent
from core.money import ZERO

_MAX_ABS_RATE = Decimal("0.05")  # a print beyond 5% per interval is a data error, not a market
HOURS_PER_YEAR = Decimal(8760)

Candidate = tuple[str, UnitKind, str, tuple[Leg, ...]]
"""(unit key, kind, base asset, legs)."""


def bump(counters: dict[str, int], name: str, by: int = 1) -> None:
    counters[name] = counters.get(name, 0) + by


def is_perp(leg: Leg) -> bool:
    return ":" in leg.symbol


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


def valid_print(event: FundingEvent) -> bool:
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


def borrow_rate(config: FundingArbConfig, legs: tuple[Leg, ...]) -> Decimal:
    """Return the hourly borrow cost the config states for a unit's short spot leg (0 if none)."""
    return max(
        (
            config.venues[leg.venue].borrow_rate_per_hour
            for leg in legs
            if leg.venue in config.venues and not is_perp(leg) and leg.sign < 0
        ),
        default=ZERO,
    )


def capital_per_notional(legs: tuple[Leg, ...], config: FundingArbConfig) -> Decimal:
    """Return the capital a unit ties up per unit of one leg's notional.

    A long spot leg is paid in full; a short spot leg holds ``borrow_margin``; a perp
    leg posts ``1 / perp_leverage`` as margin. Spot-perp long: 1 + 1/3; perp-perp: 2/3.
    """
    capital = ZERO
    for leg in legs:
        if is_perp(leg):
            capital += 1 / config.perp_leverage
        else:
            capital += 1 if leg.sign > 0 else config.borrow_margin
    return capital


def apr_pct(per_hour: Decimal) -> float:
    """Return an hourly fraction as percent a year."""
    return float(per_hour * HOURS_PER_YEAR * 100)


# -- CANDIDATES ----------------------------------------------------------------


def unit_key(kind: str, base: str, legs: tuple[Leg, ...]) -> str:
    parts = [
        f"{'L' if leg.sign > 0 else 'S'}-{leg.venue}-{'perp' if is_perp(leg) else 'spot'}"
        for leg in legs
    ]
    return ":".join(["sp" if kind == "spot_perp" else "pp", base, *parts])


def candidates(config: FundingArbConfig) -> list[Candidate]:
    """Enumerate every (key, kind, base, legs) unit the configuration allows, in a fixed order."""
    found: list[Candidate] = []
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
                    found.append((unit_key("spot_perp", base, legs), "spot_perp", base, legs))
        if "perp_perp" in config.strategies:
            perps = [
                (v, config.venues[v].perps[base]) for v in venues if base in config.venues[v].perps
            ]
            for long_venue, long_symbol in perps:
                for short_venue, short_symbol in perps:
                    if long_venue == short_venue:
                        continue
                    legs = (Leg(long_venue, long_symbol, 1), Leg(short_venue, short_symbol, -1))
                    found.append((unit_key("perp_perp", base, legs), "perp_perp", base, legs))
    return found


def cause_fingerprint(legs: tuple[Leg, ...], config: FundingArbConfig) -> str:
    """Return what a persistent leg failure may depend on: the configuration of the legs' venues.

    A unit disabled for repeated failures is enabled again once this changes (borrowing
    turned on or off, a borrow rate, a market's symbol).
    """
    venues = sorted({leg.venue for leg in legs})
    parts = [
        f"{v}={config.venues[v].model_dump_json()}" if v in config.venues else f"{v}=?"
        for v in venues
    ]
    return ";".join(parts)


# -- THE SNAPSHOT, CHECKED ONCE ------------------------------------------------


class View:
    """The snapshot checked once: valid prices, fresh markets, positions in base units."""

    def __init__(self, snapshot: Snapshot, state: FundingArbState, config: FundingArbConfig):
        self.ts_ns = snapshot.ts_ns
        self.budget = snapshot.budget
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

    def price(self, market: MarketKey) -> Decimal | None:
        quote = self.quotes.get(market)
        return quote.price if quote is not None else None

    def tradable(self, legs: tuple[Leg, ...]) -> bool:
        """Tell whether every leg has a fresh price, no working order, and (perps) an estimate."""
        return self.untradable(legs) is None

    def untradable(self, legs: tuple[Leg, ...]) -> str | None:
        """Return why a unit of ``legs`` cannot be entered now (the first reason), or None."""
        for leg in legs:
            if leg.market not in self.quotes:
                return "no_price"
            if leg.market not in self.fresh:
                return "stale_price"
            if leg.market in self.busy:
                return "order_working"
            if is_perp(leg) and leg.market not in self.ready:
                return "estimate_not_ready"
        return None

    def basis(self, legs: tuple[Leg, ...]) -> Decimal | None:
        """Return the short leg's price premium over the long leg's, as a fraction."""
        prices = [self.price(leg.market) for leg in legs]
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

    def unit_capital(self, unit: Unit, config: FundingArbConfig) -> Decimal:
        """Return the capital ``unit`` committed: its target size at its entry prices.

        Entry prices, not today's: the legs' P&L offsets a price move, so a move does not
        take more of the budget (a leg's margin is watched by the margin stop). Today's
        prices stand in where the entry prices are unknown.
        """
        prices = [p for p in unit.entry_prices if p > 0] or [
            p for leg in unit.legs if (p := self.price(leg.market)) is not None
        ]
        if not prices or unit.kind == "orphan":
            return ZERO
        return unit.size * max(prices) * capital_per_notional(unit.legs, config)
