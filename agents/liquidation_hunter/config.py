"""Settings of one liquidation hunter on one perpetual; every unknown key is an error."""

from __future__ import annotations

from decimal import Decimal

from pydantic import ConfigDict, Field, model_validator

from core.errors import InvalidValue
from core.models import Frozen
from core.money import Dec, is_multiple_of

_NS_PER_S = 1_000_000_000


class LiquidationHunterConfig(Frozen):
    """One hunter on one market.

    A cascade on a side (``detector.py``) is, within ``cascade_window_ns``: the
    liquidated notional of that side reaching ``min_cascade_notional`` (quote
    currency), ``min_volume_ratio`` times the notional traded within
    ``volume_window_ns`` and ``min_depth_ratio`` times the notional resting at the
    touch the forced orders hit; the mid moving ``min_move_sigma`` of the volatility
    expected over the window in the forced orders' direction; and, where the feed
    carries open interest, open interest falling ``min_oi_drop_bps``. A threshold
    of 0 turns its ingredient off.

    Entry, a fade of the cascade: only once it is exhausted, i.e. no forced
    order of that side for ``exhaustion_ns`` and the mid back ``confirm_retrace`` of
    the cascade's move from its extreme, within ``confirm_window_ns`` of detection;
    a cascade followed by momentum is not traded. Offsets and exits are in basis
    points of a price.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    agent_id: str
    venue: str
    symbol: str
    price_tick: Dec
    amount_step: Dec
    # -- detection --
    cascade_window_ns: int = Field(default=300 * _NS_PER_S, gt=0)
    volume_window_ns: int = Field(default=1_800 * _NS_PER_S, gt=0)
    min_cascade_notional: Dec = Decimal(250_000)
    min_volume_ratio: Dec = Decimal("0.01")
    min_depth_ratio: Dec = Decimal("0.1")
    min_move_sigma: Dec = Decimal(2)
    vol_window_ns: int = Field(default=3_600 * _NS_PER_S, gt=0)
    min_oi_drop_bps: Dec = Decimal(5)
    snapshot_interval_ms: int | None = Field(default=None, ge=0)
    """Slot of a snapshot liquidation stream (None: 1000 on Binance, 0 elsewhere: complete)."""
    min_snapshot_slots: int = Field(default=10, ge=1)
    """One-second slots with a print that make a snapshot stream's flow a cascade on its own."""
    # -- confirmation (a fade only after the cascade is exhausted) --
    exhaustion_ns: int = Field(default=60 * _NS_PER_S, ge=0)
    confirm_retrace: Dec = Decimal("0.25")
    confirm_window_ns: int = Field(default=900 * _NS_PER_S, gt=0)
    # -- entry --
    entry_offset_bps: Dec = Decimal(10)
    order_size: Dec
    max_position: Dec
    entry_ttl_ns: int = Field(default=900 * _NS_PER_S, gt=0)
    min_top_depth: Dec = Decimal(0)
    """Base amount each side of the touch must show for an entry (a thin book: none)."""
    # -- exit --
    take_profit_bps: Dec = Decimal(30)
    stop_loss_bps: Dec = Decimal(60)
    max_hold_ns: int = Field(default=3_600 * _NS_PER_S, gt=0)
    exit_retry_ns: int = Field(default=60 * _NS_PER_S, gt=0)
    """Wait this long before sending a stop or time-stop exit again while the position stays."""
    cooldown_ns: int = Field(default=900 * _NS_PER_S, ge=0)
    # -- safety --
    max_feed_age_ns: int = Field(default=120 * _NS_PER_S, gt=0)

    @model_validator(mode="after")
    def _check(self) -> LiquidationHunterConfig:
        for name in (
            "price_tick",
            "amount_step",
            "order_size",
            "max_position",
            "take_profit_bps",
            "stop_loss_bps",
        ):
            if getattr(self, name) <= 0:
                raise InvalidValue(name, getattr(self, name), "must be > 0")
        for name in (
            "min_cascade_notional",
            "min_volume_ratio",
            "min_depth_ratio",
            "entry_offset_bps",
            "min_top_depth",
            "min_move_sigma",
            "min_oi_drop_bps",
            "confirm_retrace",
        ):
            if getattr(self, name) < 0:
                raise InvalidValue(name, getattr(self, name), "must be >= 0")
        if self.stop_loss_bps >= 10_000:
            raise InvalidValue("stop_loss_bps", self.stop_loss_bps, "must be < 10000")
        if self.entry_offset_bps >= 10_000:
            raise InvalidValue("entry_offset_bps", self.entry_offset_bps, "must be < 10000")
        if not is_multiple_of(self.order_size, self.amount_step):
            raise InvalidValue("order_size", self.order_size, "not a multiple of amount_step")
        if self.max_position < self.amount_step:
            raise InvalidValue("max_position", self.max_position, "below one amount_step")
        return self
