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
    ewma_halflife_hours: Dec = Decimal(72)
    """Half-life of the slow (expected-carry) EWMA of the hourly rate."""
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
    """Exit when expected carry over the horizon falls below the closing costs plus this."""
    flip_exit: bool = True
    """Exit when the trend-extrapolated carry turns negative (a predicted sign flip)."""
    flip_buffer_per_hour: Dec = Decimal("0.00001")
    """How far below zero the predicted hourly carry must go to count as a flip."""
    basis_stop: Dec = Decimal("0.02")
    """Exit when the legs' price gap moves this fraction away from where it was at entry."""
    rotation_margin: Dec = Decimal("0.001")
    """A rotation must gain this fraction over the horizon beyond both units' switch costs."""
    slippage: Dec = Decimal("0.0002")
    """Assumed price impact per trade beyond half the quoted spread, as a fraction."""

    # -- sizing --
    unit_fraction: Dec = Decimal("0.25")
    """Notional of one unit (each leg) as a fraction of the budget."""
    max_units: int = 3
    max_units_per_symbol: int = 1
    hedge_tolerance: Dec = Decimal("0.02")
    """Rebalance a leg whose size drifts more than this fraction from its target."""
    max_hedge_attempts: int = 2
    """Decides that try to complete a missing leg before the filled one is unwound."""

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
        if not 0 < self.unit_fraction <= 1:
            raise InvalidValue("unit_fraction", self.unit_fraction, "must be in (0, 1]")
        if self.max_units < 1 or self.max_units_per_symbol < 1 or self.min_prints < 1:
            raise InvalidValue("max_units", self.max_units, "counts must be >= 1")
        return self
