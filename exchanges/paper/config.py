"""Settings of one paper venue and of its synthetic liquidation population."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from core.config import ConfigModel
from core.money import Dec
from exchanges.paper.queue import QueueModelConfig


class LiquidationModelConfig(ConfigModel):
    """The synthetic population of other traders' leveraged positions (liquidation_model.py).

    The defaults are the calibration documented in that module: about 3.5% of open
    interest liquidated per day on longs and 1.9% on shorts for a 3% daily volatility.
    """

    enabled: bool = True
    positions_per_side: int = Field(default=1000, ge=10, le=100_000)
    leverage_levels: tuple[float, ...] = (2, 3, 5, 10, 20, 25, 50, 75, 100)
    long_weights: tuple[float, ...] = (0.30, 0.17, 0.20, 0.17, 0.09, 0.035, 0.022, 0.009, 0.004)
    short_weights: tuple[float, ...] = (
        0.4425,
        0.19,
        0.165,
        0.115,
        0.055,
        0.016,
        0.0095,
        0.0045,
        0.0025,
    )
    mean_holding_hours: float = Field(default=36.0, gt=0)
    lookback_hours: float = Field(default=24.0, gt=0)
    entry_daily_vol: float = Field(default=0.03, gt=0)
    """Spread of the initial entry prices around the first price seen (per sqrt day)."""
    default_open_interest_notional: Dec = Decimal(100_000_000)
    """Open interest in quote currency until a MarkEvent reports one."""

    @model_validator(mode="after")
    def _check(self) -> LiquidationModelConfig:
        n = len(self.leverage_levels)
        if len(self.long_weights) != n or len(self.short_weights) != n:
            raise ValueError("long_weights and short_weights need one weight per leverage level")
        if any(level <= 1 for level in self.leverage_levels):
            raise ValueError("leverage levels must be > 1")
        if any(w < 0 for w in self.long_weights + self.short_weights):
            raise ValueError("weights must be >= 0")
        if sum(self.long_weights) <= 0 or sum(self.short_weights) <= 0:
            raise ValueError("weights must not all be zero")
        return self


class PaperVenueConfig(ConfigModel):
    """How one paper venue fills, margins and simulates."""

    leverage: Dec = Decimal(5)
    """Leverage of every perpetual until ``set_leverage`` changes it."""
    fill_at_touch: bool = False
    """Fill a resting limit when a trade prints exactly at its price (queue position ignored).

    Off: a trade at the price fills it only past the queue ahead of it (``queue``), a bar
    only when it trades strictly through the price.
    """
    queue: QueueModelConfig = QueueModelConfig()
    """How the amount ahead of our resting limits is estimated (exchanges/paper/queue.py)."""
    bar_participation: Dec = Decimal("0.1")
    """Share of a bar's volume our resting orders may take when the bar crosses them."""
    consume_book_liquidity: bool = True
    """Take the amounts our market orders and forced liquidations hit out of the book."""
    liquidation_model: LiquidationModelConfig = LiquidationModelConfig()

    @model_validator(mode="after")
    def _check(self) -> PaperVenueConfig:
        if self.leverage < 1:
            raise ValueError("leverage must be >= 1")
        if not 0 < self.bar_participation <= 1:
            raise ValueError("bar_participation must be in (0, 1]")
        return self
