"""Configuration of the funding-arbitrage agent: the markets it may trade, as data.

Fees, lots and contract sizes are not typed here: they are read from the venue
rules (``exchanges.paper.rules``) by market symbol, so one schedule serves the
paper venue, the backtest and this agent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import InvalidValue
from core.money import Dec


class VenueMarkets(BaseModel):
    """One venue's markets per base asset, and whether spot may be borrowed (shorted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    perps: dict[str, str] = Field(default_factory=dict)
    """Base asset -> perpetual symbol, e.g. ``{"BTC": "BTC/USDT:USDT"}``."""
    spots: dict[str, str] = Field(default_factory=dict)
    """Base asset -> spot symbol; a spot-perp unit needs both on one venue."""
    spot_borrow_allowed: bool = False
    """Whether this venue lends the base asset, so short spot / long perp is possible."""
    borrow_rate_per_hour: Dec = Decimal(0)
    """Cost of borrowing the base, per hour as a fraction of notional (short-spot units)."""


def _default_venues() -> dict[str, VenueMarkets]:
    return {
        "binance": VenueMarkets(
            perps={"BTC": "BTC/USDT:USDT", "ETH": "ETH/USDT:USDT"},
            spots={"BTC": "BTC/USDT", "ETH": "ETH/USDT"},
        ),
        "bybit": VenueMarkets(
            perps={"BTC": "BTC/USDT:USDT", "ETH": "ETH/USDT:USDT"},
            spots={"BTC": "BTC/USDT", "ETH": "ETH/USDT"},
        ),
        "hyperliquid": VenueMarkets(perps={"BTC": "BTC/USDC:USDC", "ETH": "ETH/USDC:USDC"}),
    }


class FundingArbConfig(BaseModel):
    """Every knob of ``decide``; fractions are of a unit's notional, rates are per hour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent_id: str = "funding-arb"
    venues: dict[str, VenueMarkets] = Field(default_factory=_default_venues)
    strategies: frozenset[Literal["spot_perp", "perp_perp"]] = frozenset({"spot_perp", "perp_perp"})

    # -- estimator --
    estimator: Literal["ewma", "last"] = "ewma"
    ewma_halflife_hours: Dec = Decimal(240)
    """Half-life of the slow (expected-carry) EWMA of the hourly rate: a third of the
    horizon, so the estimate of the carry over the next 720h averages a comparable past
    (72h, tried first, chased noise: see ``agents.funding_arb.backtest --explain``)."""
    fast_halflife_hours: Dec = Decimal(24)
    """Half-life of the fast EWMA used to extrapolate the trend (sign-flip prediction)."""
    min_prints: int = 3
    """Prints a market needs before it can be entered."""

    # -- entry and exit --
    horizon_hours: Dec = Decimal(720)
    """Holding horizon the expected funding is counted over."""
    entry_margin: Dec = Decimal("0.0005")
    """Expected carry over the horizon must beat the round-trip costs by this fraction."""
    exit_margin: Dec = Decimal(0)
    """Hysteresis below zero: exit only when the expected carry over the horizon is below
    minus (the cost of re-entering plus this), i.e. when holding is expected to lose more
    than closing now and coming back would cost. Closing costs are not in it: they are
    paid whenever the unit closes, now or later."""
    flip_exit: bool = False
    """Also exit when the trend-extrapolated carry turns negative (a predicted sign flip).

    Off by default: it closes units whose expected carry is still positive."""
    flip_buffer_per_hour: Dec = Decimal("0.00001")
    """How far below zero the predicted hourly carry must go to count as a flip."""
    basis_stop: Dec = Decimal("0.02")
    """Exit when the legs' price gap moves this fraction away from where it was at entry."""
    margin_keep: Dec = Decimal("0.5")
    """Exit a unit whose legs sit on two venues when a perp leg has lost more than
    ``1 - margin_keep`` of the margin it posted (half by default: at ``perp_leverage`` 3, a
    move of about 17% against the leg; decisions come hours apart and the leg must
    survive the next move too)."""
    margin_safety: Dec = Decimal(3)
    """Also exit such a unit when a perp leg's equity (its margin less its loss since
    entry) falls below this many times its maintenance margin: collateral
    does not move between venues here, so the unit is closed (and re-entered at a fresh
    price) well before that leg could be liquidated."""
    rotation_margin: Dec = Decimal("0.001")
    """A rotation must gain this fraction of capital over the horizon beyond the switch
    costs (the new unit's round trip and the old unit's close)."""
    slippage: Dec = Decimal("0.0002")
    """Assumed price impact per trade beyond half the quoted spread, as a fraction."""

    # -- deployment (budget and margin) --
    perp_leverage: Dec = Decimal(3)
    """Notional per unit of margin a perp leg posts; a unit's capital counts each perp leg
    at ``notional / perp_leverage`` (3: a third of the notional, liquidation after a move
    of about 30%, the margin stop well before). Set 1 where the gateway counts a perp at
    its full notional against the budget (configs/paper.toml does)."""
    borrow_margin: Dec = Decimal("0.5")
    """Capital held per unit of notional against a borrowed (short) spot leg."""
    max_unit_capital: Dec = Decimal("0.5")
    """Capital of one unit as a fraction of the budget (a concentration cap)."""
    min_unit_capital: Dec = Decimal("0.05")
    """Smallest unit worth opening, as a fraction of the budget (fees scale, lots do not)."""
    reserve: Dec = Decimal("0.05")
    """Fraction of the budget never deployed: fees, funding paid, margin drift."""
    max_leg_notional: Dec | None = None
    """Cap on one leg's notional (match the gateway's per-order notional cap)."""
    hedge_tolerance: Dec = Decimal("0.02")
    """Rebalance a leg whose size drifts more than this fraction from its target."""
    max_hedge_attempts: int = 2
    """Decides that try to complete a missing leg before the filled one is unwound."""

    # -- failed legs --
    failure_cooldown_ns: int = 3600 * 10**9
    """After a unit is unwound because a leg did not fill, wait this long before re-entering it."""
    max_failures_per_day: int = 3
    """Unwinds of one unit per UTC day after which it waits for the next day."""
    disable_after_failures: int = 3
    """Consecutive unwinds (no successful open between) after which the unit is disabled until
    its cause changes: the configuration of its venues (borrowing, markets, rates)."""

    # -- data hygiene --
    stale_quote_ns: int = 600 * 10**9
    """A price older than this blocks new entries on its market."""
    stale_funding_ns: int = 9 * 3600 * 10**9
    """A funding estimate not updated for this long blocks new entries on its market."""
    order_timeout_ns: int = 60 * 10**9
    """Cancel one of our orders still open after this long."""

    @model_validator(mode="after")
    def _check(self) -> FundingArbConfig:
        for name in ("ewma_halflife_hours", "fast_halflife_hours", "horizon_hours"):
            if getattr(self, name) <= 0:
                raise InvalidValue(name, getattr(self, name), "must be > 0")
        for name in ("max_unit_capital", "min_unit_capital"):
            if not 0 < getattr(self, name) <= 1:
                raise InvalidValue(name, getattr(self, name), "must be in (0, 1]")
        if not 0 <= self.reserve < 1:
            raise InvalidValue("reserve", self.reserve, "must be in [0, 1)")
        if self.perp_leverage < 1:
            raise InvalidValue("perp_leverage", self.perp_leverage, "must be >= 1")
        if self.borrow_margin <= 0:
            raise InvalidValue("borrow_margin", self.borrow_margin, "must be > 0")
        if not 0 <= self.margin_keep < 1:
            raise InvalidValue("margin_keep", self.margin_keep, "must be in [0, 1)")
        if self.margin_safety < 1:
            raise InvalidValue("margin_safety", self.margin_safety, "must be >= 1")
        if self.max_leg_notional is not None and self.max_leg_notional <= 0:
            raise InvalidValue("max_leg_notional", self.max_leg_notional, "must be > 0")
        for name in ("min_prints", "max_failures_per_day", "disable_after_failures"):
            if getattr(self, name) < 1:
                raise InvalidValue(name, getattr(self, name), "must be >= 1")
        return self
