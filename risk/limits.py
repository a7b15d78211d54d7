"""The gateway's risk limits: one frozen config model, unknown keys refused.

Notionals are in the quote (or settle) currency of the market, which Swarm treats
as its one unit of account (USDT, USDC and USD are taken at par). Fractions are
Decimals (``0.01`` is 1 %); basis points are Decimals too (``500`` is 5 %).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from core.clock import NS_PER_S
from core.config import SwarmConfig
from core.errors import InvalidValue
from core.models import Frozen
from core.money import Dec


class ReconcileTolerance(Frozen):
    """How far the venue's report may differ from the gateway's books and still be corrected.

    A difference passes when it is within ``relative`` of the larger of the two
    magnitudes, or within ``absolute`` (dust); anything beyond is a mismatch.
    """

    relative: Dec = Decimal("0.01")
    absolute: Dec = Decimal(0)

    @model_validator(mode="after")
    def _check(self) -> ReconcileTolerance:
        if not Decimal(0) <= self.relative < 1:
            raise InvalidValue("relative", self.relative, "must be within [0, 1)")
        if self.absolute < 0:
            raise InvalidValue("absolute", self.absolute, "must be >= 0")
        return self


class RiskLimits(Frozen):
    """Pre-trade caps, the price band, drawdown limits and the reconciliation tolerance."""

    max_order_notional: Dec = Decimal(10_000)
    """Largest notional of one order."""
    max_position_notional: Dec = Decimal(50_000)
    """Largest worst-case notional one agent may hold in one symbol (filled plus open orders)."""
    price_band_bps: Dec = Decimal(500)
    """A limit price must lie within this distance of the mid; a market order reserves at its edge."""
    require_reference_for_limit: bool = True
    """Deny limit orders too when no mid is known (market orders are always denied then)."""
    reference_max_age_ns: int | None = Field(default=None, gt=0)
    """A mid older than this counts as no mid (None: any age)."""
    max_orders_per_window: int = Field(default=120, ge=1)
    """Most orders one agent may submit within ``order_rate_window_ns``."""
    order_rate_window_ns: int = Field(default=60 * NS_PER_S, gt=0)
    max_drawdown_fraction_agent: Dec = Decimal("0.25")
    """An agent's loss from its P&L peak, as a fraction of its budget, that trips the breaker."""
    max_drawdown_fraction_total: Dec = Decimal("0.10")
    """The fund's loss from its P&L peak, as a fraction of all budgets, that trips the breaker."""
    reconciliation: ReconcileTolerance = ReconcileTolerance()
    spot_borrow_venues: frozenset[str] = frozenset()
    """Venues whose account lends spot assets (the paper venue's spot margin, where enabled):
    there a spot sell beyond an agent's holding is a short, checked and reserved as an
    opening order. Elsewhere it is denied."""

    @model_validator(mode="after")
    def _check(self) -> RiskLimits:
        for name in ("max_order_notional", "max_position_notional"):
            if getattr(self, name) <= 0:
                raise InvalidValue(name, getattr(self, name), "must be > 0")
        if not Decimal(0) < self.price_band_bps < Decimal(10_000):
            raise InvalidValue("price_band_bps", self.price_band_bps, "must be within (0, 10000)")
        for name in ("max_drawdown_fraction_agent", "max_drawdown_fraction_total"):
            if not Decimal(0) < getattr(self, name) <= 1:
                raise InvalidValue(name, getattr(self, name), "must be within (0, 1]")
        return self

    @property
    def price_band(self) -> Decimal:
        """Return the band as a fraction (``500`` bps -> ``0.05``)."""
        return self.price_band_bps / Decimal(10_000)


def limits_of(config: SwarmConfig) -> RiskLimits:
    """Return a run's risk limits from its ``[gateway]`` caps and ``[paper]`` spot margin."""
    g = config.gateway
    return RiskLimits(
        max_order_notional=g.max_order_notional,
        max_position_notional=g.max_position_notional,
        max_orders_per_window=g.max_orders_per_minute,
        price_band_bps=g.price_band_bps,
        spot_borrow_venues=frozenset(config.paper.spot_margin_venues),
    )
