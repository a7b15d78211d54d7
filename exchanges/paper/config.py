"""Settings of one paper venue and of its synthetic liquidation population."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from core.config import ConfigModel
from core.errors import InvalidValue
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


class SpotMarginConfig(ConfigModel):
    """Spot margin: selling a spot asset beyond what the account holds borrows it.

    Off by default (a venue account must opt in to margin trading, as on Bybit's UTA or
    Binance's margin account). The rates are ASSUMPTIONS, like the fee tables' VIP tier:
    venues float their borrow rates with utilisation and publish them per asset and hour;
    no recorded history of them is embedded here, so set them to the terms you expect.
    """

    enabled: bool = False
    borrow_rate_per_hour: dict[str, Dec] = Field(default_factory=dict)
    """Per base asset, the interest per hour as a fraction of the borrowed value."""
    default_rate_per_hour: Dec = Decimal("0.000005")
    """Rate of an asset not listed above: 0.0005 % an hour, 4.4 % a year (an assumption)."""
    leverage: Dec = Decimal(3)
    """Initial margin of a loan is its value / leverage (Bybit and Binance cross margin: 3-10x)."""
    maintenance_margin_rate: Dec = Decimal("0.1")
    """Maintenance margin of a loan as a fraction of its value (an assumption)."""

    def rate_of(self, asset: str) -> Decimal:
        """Return the hourly borrow rate of ``asset``."""
        return self.borrow_rate_per_hour.get(asset, self.default_rate_per_hour)

    @model_validator(mode="after")
    def _check(self) -> SpotMarginConfig:
        rates = {"default_rate_per_hour": self.default_rate_per_hour}
        rates.update({f"borrow_rate_per_hour.{a}": r for a, r in self.borrow_rate_per_hour.items()})
        for name, rate in rates.items():
            if not rate.is_finite() or rate < 0:
                raise InvalidValue(name, rate, "must be finite and >= 0")
        if self.leverage < 1:
            raise InvalidValue("leverage", self.leverage, "must be >= 1")
        if not 0 <= self.maintenance_margin_rate < 1:
            raise InvalidValue(
                "maintenance_margin_rate", self.maintenance_margin_rate, "must be in [0, 1)"
            )
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
    spot_margin: SpotMarginConfig = SpotMarginConfig()
    fee_multiplier: Dec = Decimal(1)
    """Every maker and taker fee of the rules times this (a stress scenario; 1: as published)."""
    taker_slippage_bps: Dec = Decimal(0)
    """Every taker fill this many bps worse than the book level it takes (a stress scenario)."""

    @model_validator(mode="after")
    def _check(self) -> PaperVenueConfig:
        if self.fee_multiplier < 0:
            raise ValueError("fee_multiplier must be >= 0")
        if self.taker_slippage_bps < 0:
            raise ValueError("taker_slippage_bps must be >= 0")
        if self.leverage < 1:
            raise ValueError("leverage must be >= 1")
        if not 0 < self.bar_participation <= 1:
            raise ValueError("bar_participation must be in (0, 1]")
        return self
