"""The Avellaneda-Stoikov quoting core, pure: model formulas, then the Decimal boundary.

Model (Avellaneda & Stoikov 2008, "High-frequency trading in a limit order book",
Quantitative Finance 8(3), eqs. (29)-(30)), written in any price unit; the live agent
uses bps of the mid (``ModelParams``) and inventory in units of a reference notional:

    reservation price   r = s - q * gamma * sigma^2 * (T - t)
    total spread        delta_a + delta_b = gamma * sigma^2 * (T - t) + (2 / gamma) * ln(1 + gamma / k)

with ``s`` the mid, ``q`` the inventory (in units of ``inventory_unit_notional``),
``sigma`` the mid's volatility (bps per sqrt(second)), ``k`` the decay of the fill
intensity ``lambda(delta) = A * exp(-k * delta)`` (1 / bp) and ``gamma`` the risk
aversion (1 / bp). Bid and ask are ``r -/+ spread / 2``; the live agent moves the
centre towards the microprice and floors the total spread at twice the maker fee plus
the measured adverse selection plus an edge (``logic.py``).

The horizon ``T - t`` comes in three forms (``HorizonMode``):

- ``"session"``: the paper's finite horizon; sessions of ``horizon_s`` seconds are
  aligned to the Unix epoch (86400 s gives the UTC day), and ``T - t`` is the time
  left in the current one.
- ``"rolling"``: the common practical replacement of ``T - t`` by the constant
  ``horizon_s``, so the quotes do not depend on the time of day.
- ``"infinite"``: the asymptotic (large-horizon) quotes of Guéant, Lehalle and
  Fernandez-Tapia (2013, "Dealing with the inventory risk", Math. Financ. Econ.
  7(4)), eqs. for ``delta_b(q)`` and ``delta_a(q)``::

      delta_b = (1/gamma) ln(1 + gamma/k) + (2q + 1)/2 * C
      delta_a = (1/gamma) ln(1 + gamma/k) - (2q - 1)/2 * C
      C = sqrt( sigma^2 * gamma / (2 k A) * (1 + gamma/k)^(1 + k/gamma) )

  which need ``A`` (fills per second at the touch) as well as ``k``.

Floats carry only the model's continuous quantities (sigma, k, A, gamma, the
half-spreads); each price is converted once, from the float's shortest repr, and
quantized to the tick at the boundary (``to_bid_tick`` rounds down,
``to_ask_tick`` rounds up), so no order price is ever a float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from core.models import Side
from core.money import ZERO, decimal_from_float, quantize_to_step

FloatArray = npt.NDArray[np.float64]
FloatLike = TypeVar("FloatLike", float, FloatArray)
"""A scalar or a numpy array: the formulas are written once for both (paper_check vectorizes)."""

HorizonMode = Literal["session", "rolling", "infinite"]

NS_PER_S = 1_000_000_000


# -- MODEL FORMULAS (floats, vectorizable) ------------------------------------


def reservation_price(
    mid: FloatLike, inventory: FloatLike, gamma: float, sigma: float, time_left: float
) -> FloatLike:
    """Return ``r = s - q * gamma * sigma^2 * (T - t)`` (A-S eq. 29)."""
    return mid - inventory * (gamma * sigma * sigma * time_left)


def optimal_spread(gamma: float, sigma: float, k: float, time_left: float) -> float:
    """Return the total spread ``gamma sigma^2 (T-t) + (2/gamma) ln(1 + gamma/k)`` (A-S eq. 30)."""
    return gamma * sigma * sigma * time_left + (2.0 / gamma) * math.log1p(gamma / k)


def as_half_spreads(
    inventory: FloatLike, gamma: float, sigma: float, k: float, time_left: float
) -> tuple[FloatLike, FloatLike]:
    """Return ``(delta_b, delta_a)``, the A-S bid and ask distances from the mid.

    ``delta_b = s - (r - spread/2)`` and ``delta_a = (r + spread/2) - s``.
    """
    half = optimal_spread(gamma, sigma, k, time_left) / 2.0
    skew = inventory * (gamma * sigma * sigma * time_left)
    return skew + half, half - skew


def glft_half_spreads(
    inventory: FloatLike, gamma: float, sigma: float, k: float, a: float
) -> tuple[FloatLike, FloatLike]:
    """Return the infinite-horizon ``(delta_b, delta_a)`` of Guéant-Lehalle-Fernandez-Tapia."""
    base = math.log1p(gamma / k) / gamma
    c = math.sqrt(sigma * sigma * gamma / (2.0 * k * a) * (1.0 + gamma / k) ** (1.0 + k / gamma))
    return base + (2.0 * inventory + 1.0) / 2.0 * c, base - (2.0 * inventory - 1.0) / 2.0 * c


def time_left_s(mode: HorizonMode, horizon_s: float, ts_ns: int) -> float:
    """Return ``T - t`` in seconds for a horizon mode (``"infinite"`` has none: 0)."""
    if mode == "rolling":
        return horizon_s
    if mode == "session":
        horizon_ns = max(1, round(horizon_s * NS_PER_S))
        return (horizon_ns - ts_ns % horizon_ns) / NS_PER_S
    return 0.0


def apply_spread_floor(delta_b: float, delta_a: float, floor: float) -> tuple[float, float]:
    """Widen both sides equally so that ``delta_b + delta_a >= floor``; keep the skew."""
    total = delta_b + delta_a
    if total >= floor:
        return delta_b, delta_a
    extra = (floor - total) / 2.0
    return delta_b + extra, delta_a + extra


def volatility_floor(sigma_abs: float, multiplier: float, window_s: float) -> float:
    """Return the spread floor ``multiplier * sigma * sqrt(window)`` (the mid's typical move)."""
    return multiplier * sigma_abs * math.sqrt(window_s)


# -- DECIMAL BOUNDARY ---------------------------------------------------------


def _to_decimal(value: float) -> Decimal:
    converted = decimal_from_float(value, "price")
    assert converted is not None  # a float always converts
    return converted


def to_bid_tick(price: float, tick: Decimal) -> Decimal:
    """Return a bid price on the tick, rounded down (never more aggressive than the model)."""
    return quantize_to_step(_to_decimal(price), tick, "down")


def to_ask_tick(price: float, tick: Decimal) -> Decimal:
    """Return an ask price on the tick, rounded up (never more aggressive than the model)."""
    return quantize_to_step(_to_decimal(price), tick, "up")


def make_post_only(
    bid: Decimal | None,
    ask: Decimal | None,
    best_bid: Decimal,
    best_ask: Decimal,
    tick: Decimal,
) -> tuple[Decimal | None, Decimal | None]:
    """Move quotes that would take liquidity to one tick inside the opposite touch.

    A bid at or above the best ask becomes ``best_ask - tick``; an ask at or below
    the best bid becomes ``best_bid + tick``. A bid that would fall to zero or
    below is dropped.
    """
    if bid is not None and bid >= best_ask:
        bid = best_ask - tick
    if ask is not None and ask <= best_bid:
        ask = best_bid + tick
    if bid is not None and bid <= ZERO:
        bid = None
    return bid, ask


def quote_sizes(
    inventory: Decimal,
    amount: Decimal,
    max_inventory: Decimal,
    lot: Decimal,
) -> tuple[Decimal | None, Decimal | None]:
    """Return ``(bid_amount, ask_amount)`` that keep ``|inventory|`` within ``max_inventory``.

    Each side is ``amount`` cut to the room left on that side, rounded down to the lot; a
    side with no room gets ``None`` (no quote). All in base units (the caller converts
    the notional limits at the mid).
    """
    bid_room = max_inventory - inventory
    ask_room = max_inventory + inventory
    bid = quantize_to_step(min(amount, bid_room), lot, "down") if bid_room > 0 else ZERO
    ask = quantize_to_step(min(amount, ask_room), lot, "down") if ask_room > 0 else ZERO
    return (bid if bid > 0 else None), (ask if ask > 0 else None)


def microprice(
    best_bid: float, best_ask: float, bid_size: float | None, ask_size: float | None
) -> float:
    """Return the size-weighted mid ``(bid * ask_size + ask * bid_size) / (bid_size + ask_size)``.

    A heavy bid (many waiting to buy) pulls it towards the ask: the next trade is more
    likely up. Without sizes it is the mid.
    """
    if bid_size is None or ask_size is None or not bid_size + ask_size > 0:
        return (best_bid + best_ask) / 2.0
    return (best_bid * ask_size + best_ask * bid_size) / (bid_size + ask_size)


@dataclass(frozen=True, slots=True)
class ModelParams:
    """The model's continuous inputs, in bps of the mid and seconds.

    Prices enter the model as bps of the mid and inventory in units of a reference
    notional, so one set of parameters means the same for BTC at 60,000 and a coin at 0.5.
    """

    gamma: float  # risk aversion: 1 / bp, per unit of inventory
    sigma: float  # bps per sqrt(second)
    k: float  # 1 / bp
    a: float | None  # fills per second at the touch (needed by "infinite" only)
    mode: HorizonMode
    horizon_s: float
    vol_floor_multiplier: float = 0.0
    vol_floor_window_s: float = 1.0


@dataclass(frozen=True, slots=True)
class QuoteSizing:
    """Order size and inventory limit in quote currency, the inventory unit, tick and lot."""

    order_notional: Decimal
    max_inventory_notional: Decimal
    inventory_unit_notional: Decimal
    tick: Decimal
    lot: Decimal
    min_notional: Decimal = ZERO  # the venue's minimum order value: a smaller side is dropped


@dataclass(frozen=True, slots=True)
class Quote:
    """One side's target: price on the tick, amount on the lot, and the most it may rest."""

    side: Side
    price: Decimal
    amount: Decimal
    room: Decimal | None = None  # the inventory limit's room on this side (None: unbounded)


@dataclass(frozen=True, slots=True)
class QuotePair:
    """Both sides' targets (``None``: no quote on that side) and the model's numbers (bps)."""

    bid: Quote | None
    ask: Quote | None
    delta_bid: float
    delta_ask: float
    model_spread_bps: float = 0.0  # the model's total spread before the floor
    centre_bps: float = 0.0  # the microprice shift of the centre from the mid


def model_half_spreads(
    params: ModelParams, inventory_units: float, ts_ns: int
) -> tuple[float, float]:
    """Return ``(delta_b, delta_a)`` for the horizon mode, volatility floor applied."""
    if params.mode == "infinite":
        if params.a is None or params.a <= 0:
            raise ValueError("the infinite-horizon quotes need A > 0")
        delta_b, delta_a = glft_half_spreads(
            inventory_units, params.gamma, params.sigma, params.k, params.a
        )
    else:
        tau = time_left_s(params.mode, params.horizon_s, ts_ns)
        delta_b, delta_a = as_half_spreads(
            inventory_units, params.gamma, params.sigma, params.k, tau
        )
    floor = volatility_floor(params.sigma, params.vol_floor_multiplier, params.vol_floor_window_s)
    return apply_spread_floor(delta_b, delta_a, floor)


def build_quotes(
    params: ModelParams,
    sizing: QuoteSizing,
    *,
    best_bid: Decimal,
    best_ask: Decimal,
    bid_size: Decimal | None,
    ask_size: Decimal | None,
    inventory: Decimal,
    floor_bps: float,
    microprice_weight: float,
    ts_ns: int,
    centre_shift_bps: float = 0.0,
) -> QuotePair:
    """Return post-only quotes on the tick around the reservation price, within the limits.

    In bps of the mid: the centre is the mid moved ``microprice_weight`` of the way to
    the microprice; the model's half-spreads (inventory in units of
    ``inventory_unit_notional`` at the mid) are widened together until their sum is at
    least ``floor_bps`` (the fee and adverse-selection floor), keeping the skew;
    ``centre_shift_bps`` moves the centre further (the trade-flow term).
    """
    mid = (best_bid + best_ask) / 2
    mid_f = float(mid)
    inventory_units = float(inventory * mid / sizing.inventory_unit_notional)
    delta_b, delta_a = model_half_spreads(params, inventory_units, ts_ns)
    model_spread = delta_b + delta_a
    delta_b, delta_a = apply_spread_floor(delta_b, delta_a, floor_bps)
    micro = microprice(
        float(best_bid),
        float(best_ask),
        None if bid_size is None else float(bid_size),
        None if ask_size is None else float(ask_size),
    )
    centre = microprice_weight * (micro - mid_f) / mid_f * 1e4 + centre_shift_bps
    bps = mid_f / 1e4  # one bp of the mid, in price
    bid_price: Decimal | None = to_bid_tick(mid_f + (centre - delta_b) * bps, sizing.tick)
    ask_price: Decimal | None = to_ask_tick(mid_f + (centre + delta_a) * bps, sizing.tick)
    bid_price, ask_price = make_post_only(bid_price, ask_price, best_bid, best_ask, sizing.tick)
    amount = quantize_to_step(sizing.order_notional / mid, sizing.lot, "down")
    limit = sizing.max_inventory_notional / mid
    bid_amount, ask_amount = quote_sizes(inventory, amount, limit, sizing.lot)
    if bid_amount is not None and bid_price is not None:
        if bid_amount * bid_price < sizing.min_notional:
            bid_amount = None
    if ask_amount is not None and ask_price is not None:
        if ask_amount * ask_price < sizing.min_notional:
            ask_amount = None
    bid = (
        Quote(Side.BUY, bid_price, bid_amount, limit - inventory)
        if bid_price is not None and bid_amount is not None
        else None
    )
    ask = (
        Quote(Side.SELL, ask_price, ask_amount, limit + inventory)
        if ask_price is not None and ask_amount is not None
        else None
    )
    return QuotePair(
        bid=bid,
        ask=ask,
        delta_bid=delta_b,
        delta_ask=delta_a,
        model_spread_bps=model_spread,
        centre_bps=centre,
    )


AMOUNT_TOLERANCE = Decimal("0.25")
"""A resting amount within 25 % of the target's stays: the size in base units follows the
mid (a notional), and requoting for a lot's drift would lose the queue for nothing."""


def needs_refresh(
    resting_price: Decimal,
    resting_amount: Decimal,
    target: Quote,
    refresh_ticks: int,
    tick: Decimal,
) -> bool:
    """Tell whether a resting order must be replaced by ``target``.

    Keep it when its price is within ``refresh_ticks`` ticks of the target's and its
    amount within 25 % of the target's, never above the room the inventory limit leaves;
    requoting on every tick would lose the queue position and spam the venue.
    """
    if target.room is not None and resting_amount > target.room:
        return True
    if abs(resting_amount - target.amount) > AMOUNT_TOLERANCE * target.amount:
        return True
    return abs(target.price - resting_price) > refresh_ticks * tick
