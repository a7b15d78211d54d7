"""The market maker's settings, in the asset's own units: bps of the mid, notional, ticks."""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cache
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from agents.market_maker.quoting import HorizonMode
from core.errors import InvalidValue
from core.models import Frozen
from core.money import Dec

Estimate = Literal["estimate"]
FromVenue = Literal["venue"]


class MarketMakerConfig(Frozen):
    """One market maker on one market; every unknown key is an error that names it.

    Units are the asset's own, so one config means the same on BTC at 60,000 and on a
    coin at 0.5: prices in bps of the mid, sizes and limits in quote currency.

    - ``gamma``: risk aversion, 1 / bp per unit of inventory, one unit being
      ``inventory_unit_notional`` of quote currency (default: ``order_notional``);
    - ``sigma``: the mid's relative volatility per sqrt(second) (``"estimate"``: online);
    - ``k``: the fill intensity's decay per bp of depth, ``a``: fills per second at the
      touch (``"estimate"``: fitted on the public trades' depths in bps);
    - ``maker_fee``: a fraction (0.0002 = 2 bp; negative for a rebate); ``"venue"`` takes
      the venue's published maker fee for the market (``exchanges.paper.rules``);
    - the total spread is floored at ``2 * (maker fee + adverse selection + min_edge_bps)``,
      the adverse selection measured after the agent's own fills (``adverse.py``:
      the mid's move against each fill over ``adverse_horizon_s``);
    - ``microprice_weight``: how far the quotes' centre moves from the mid towards the
      microprice (0: not at all, 1: all the way), and ``flow_weight_bps`` times the
      imbalance of the recent public trades' aggressors (``(buy - sell) / (buy + sell)``
      over a ``flow_half_life_s`` half-life) on top;
    - a resting quote within ``refresh_ticks`` ticks of its target stays; past
      ``max_orders_per_minute`` placements in the last minute of feed time the agent
      places nothing more (it keeps what rests, and cancels a quote the target left
      behind on the aggressive side), so it never runs into the gateway's rate limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    agent_id: str
    venue: str
    symbol: str
    gamma: float = Field(gt=0)
    sigma: float | Estimate = "estimate"
    k: float | Estimate = "estimate"
    a: float | Estimate = "estimate"
    horizon_mode: HorizonMode = "rolling"
    horizon_s: float = Field(default=60.0, gt=0)
    order_notional: Dec
    max_inventory_notional: Dec
    inventory_unit_notional: Dec | None = None
    price_tick: Dec
    amount_step: Dec
    refresh_ticks: int = Field(default=5, ge=0)
    max_orders_per_minute: int = Field(default=300, ge=2)
    maker_fee: Dec | FromVenue = "venue"
    min_order_notional: Dec | FromVenue = "venue"
    min_edge_bps: float = Field(default=0.5, ge=0)
    adverse_horizon_s: float = Field(default=5.0, gt=0)
    adverse_prior_bps: float = Field(default=1.0, ge=0)
    adverse_prior_weight: float = Field(default=5.0, gt=0)
    adverse_half_life_fills: float = Field(default=50.0, gt=0)
    microprice_weight: float = Field(default=1.0, ge=0, le=1)
    flow_weight_bps: float = Field(default=0.0, ge=0)
    flow_half_life_s: float = Field(default=2.0, gt=0)
    max_feed_age_ns: int = Field(default=2_000_000_000, gt=0)
    vol_floor_multiplier: float = Field(default=0.0, ge=0)
    vol_floor_window_s: float = Field(default=1.0, gt=0)
    vol_half_life_s: float = Field(default=300.0, gt=0)
    vol_min_returns: int = Field(default=20, ge=1)
    depth_bucket_bps: float = Field(default=0.5, gt=0)
    depth_buckets: int = Field(default=20, ge=2)
    intensity_half_life_s: float = Field(default=600.0, gt=0)
    intensity_min_count: float = Field(default=5.0, gt=0)
    intensity_min_buckets: int = Field(default=3, ge=2)

    @model_validator(mode="after")
    def _check(self) -> MarketMakerConfig:
        for name in ("sigma", "k", "a"):
            value = getattr(self, name)
            if value != "estimate" and not (math.isfinite(value) and value > 0):
                raise InvalidValue(name, value, "must be > 0 and finite, or 'estimate'")
        for name in ("order_notional", "max_inventory_notional", "price_tick", "amount_step"):
            if getattr(self, name) <= 0:
                raise InvalidValue(name, getattr(self, name), "must be > 0")
        if self.inventory_unit_notional is not None and self.inventory_unit_notional <= 0:
            raise InvalidValue(
                "inventory_unit_notional", self.inventory_unit_notional, "must be > 0"
            )
        if self.order_notional > self.max_inventory_notional:
            raise InvalidValue(
                "order_notional", self.order_notional, "above max_inventory_notional"
            )
        if self.maker_fee != "venue" and not -0.01 < self.maker_fee < 0.01:
            raise InvalidValue("maker_fee", self.maker_fee, "a fraction within (-1 %, 1 %)")
        return self

    @property
    def inventory_unit(self) -> Decimal:
        """The notional one unit of inventory stands for in the model."""
        return self.inventory_unit_notional or self.order_notional

    def maker_fee_bps(self) -> float:
        """Return the maker fee in bps: the configured one, or the venue's published one."""
        if self.maker_fee == "venue":
            return float(_venue_market(self.venue, self.symbol, "maker_fee")[0]) * 1e4
        return float(self.maker_fee) * 1e4

    def min_notional(self) -> Decimal:
        """Return the smallest order value the venue accepts (configured, or published)."""
        if self.min_order_notional == "venue":
            return _venue_market(self.venue, self.symbol, "min_order_notional")[1]
        return self.min_order_notional


@cache
def _venue_market(venue: str, symbol: str, field: str) -> tuple[Decimal, Decimal]:
    """Return the venue's published ``(maker fee, minimum order value)`` of ``symbol``.

    They come from the paper venue's rules, which cite the venues' fee schedules and
    filters. ``InvalidValue`` names ``field`` when the market is not known there: give
    the value in the config then.
    """
    from exchanges.paper.rules import VENUE_RULES  # data only: fee schedules and filters

    table = VENUE_RULES.get(venue)
    rules = table.market(symbol) if table is not None else None
    if rules is None:
        raise InvalidValue(field, "venue", f"no published rules for {venue} {symbol}: give it")
    return rules.maker_fee, rules.min_cost or Decimal(0)
