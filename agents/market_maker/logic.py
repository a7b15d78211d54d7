"""The market maker's pure decision: ``decide(state, snapshot, config) -> (state, actions)``.

One call per market event. The snapshot carries what the agent may know: the
top of book, the event time, the newest feed time, the public trades since the
last call, the position and open orders *as the gateway reports them*, and the
breaker state. The core updates its estimators, then either pulls every quote
(``CancelOrder`` for each open order) or reconciles the open orders with the
model's targets: an order within the refresh tolerance stays, others are
cancelled and replaced by a post-only ``PlaceOrder``.

Quotes are pulled when the breaker is not CLOSED, the feed is older than
``max_feed_age_ns``, the book is empty, one-sided, crossed, locked or carries a
NaN / non-positive price, or the estimators have not warmed up.

Intent ids are ``f"mm-{ts_ns}-bid"`` / ``f"mm-{ts_ns}-ask"``: a pure function of
the event time and the side. A restarted agent re-deciding the same event emits
the same ids, and the gateway's idempotency turns the repeat into a no-op
instead of a second order. Cancels name the open order's own intent id.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.market_maker.estimators import (
    IntensityState,
    VolatilityState,
    advance_intensity,
    fit_intensity,
    new_intensity_state,
    record_trade,
    update_volatility,
    volatility_per_sqrt_s,
)
from agents.market_maker.quoting import (
    HorizonMode,
    ModelParams,
    Quote,
    build_quotes,
    needs_refresh,
)
from core.errors import InvalidValue
from core.events import TradeTick
from core.models import Frozen, OrderType, Side
from core.money import ZERO, Dec, is_multiple_of
from gateway.breaker import BreakerState
from gateway.intents import OrderIntent

Estimate = Literal["estimate"]

# -- CONFIG -------------------------------------------------------------------


class MarketMakerConfig(Frozen):
    """One market maker on one market; every unknown key is an error that names it.

    ``gamma`` and ``k`` are in 1/price, ``a`` in fills per second at the touch,
    ``sigma`` is the relative volatility per sqrt(second) (the core multiplies it
    by the mid). ``"estimate"`` takes the value from the online estimators.
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
    order_size: Dec
    max_inventory: Dec
    price_tick: Dec
    amount_step: Dec
    refresh_tolerance: Dec = Decimal("0.0005")
    max_feed_age_ns: int = Field(default=2_000_000_000, gt=0)
    vol_floor_multiplier: float = Field(default=0.0, ge=0)
    vol_floor_window_s: float = Field(default=1.0, gt=0)
    vol_half_life_s: float = Field(default=300.0, gt=0)
    vol_min_returns: int = Field(default=20, ge=1)
    depth_bucket_width: Dec
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
        for name in ("order_size", "max_inventory", "price_tick", "amount_step"):
            if getattr(self, name) <= 0:
                raise InvalidValue(name, getattr(self, name), "must be > 0")
        if self.depth_bucket_width <= 0:
            raise InvalidValue("depth_bucket_width", self.depth_bucket_width, "must be > 0")
        if self.refresh_tolerance < 0:
            raise InvalidValue("refresh_tolerance", self.refresh_tolerance, "must be >= 0")
        if not is_multiple_of(self.order_size, self.amount_step):
            raise InvalidValue("order_size", self.order_size, "not a multiple of amount_step")
        if self.order_size > self.max_inventory:
            raise InvalidValue("order_size", self.order_size, "above max_inventory")
        return self


# -- SNAPSHOT, STATE, ACTIONS -------------------------------------------------


class OpenQuote(Frozen):
    """One of the agent's open orders, as the gateway reports it."""

    intent_id: str
    side: Side
    price: Dec
    remaining: Dec


class MarketMakerSnapshot(Frozen):
    """What the agent knows at ``ts_ns``; book prices may be bad (NaN, crossed): decide checks."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=True)

    ts_ns: int
    best_bid: Decimal | None
    best_ask: Decimal | None
    feed_ts_ns: int | None  # time of the newest market data the feed delivered
    position: Dec = ZERO  # signed base amount
    open_orders: tuple[OpenQuote, ...] = ()
    breaker: BreakerState = BreakerState.CLOSED
    trades: tuple[TradeTick, ...] = ()  # public trades since the previous call, oldest first


class PullReason(StrEnum):
    BREAKER = "breaker_not_closed"
    STALE_FEED = "stale_feed"
    NO_BOOK = "no_book"
    BAD_PRICE = "bad_price"
    CROSSED_BOOK = "crossed_book"
    WARMING_UP = "warming_up"


class MarketMakerState(Frozen):
    """Everything ``decide`` carries from one call to the next."""

    inventory: Dec = ZERO
    resting: tuple[OpenQuote, ...] = ()  # the open orders expected after the last actions
    volatility: VolatilityState
    intensity: IntensityState
    last_ts_ns: int | None = None
    decisions: int = 0
    pulled: PullReason | None = None


def initial_state(config: MarketMakerConfig) -> MarketMakerState:
    """Return the empty state of a fresh (or restarted) agent."""
    return MarketMakerState(
        volatility=VolatilityState(half_life_s=config.vol_half_life_s),
        intensity=new_intensity_state(
            float(config.depth_bucket_width), config.depth_buckets, config.intensity_half_life_s
        ),
    )


def intent_id_for(ts_ns: int, side: Side) -> str:
    """Return the intent id of the quote placed on ``side`` for the event at ``ts_ns``."""
    return f"mm-{ts_ns}-{'bid' if side is Side.BUY else 'ask'}"


# -- DECIDE -------------------------------------------------------------------


def decide(
    state: MarketMakerState, snapshot: MarketMakerSnapshot, config: MarketMakerConfig
) -> tuple[MarketMakerState, tuple[Action, ...]]:
    """Return the next state and the actions for one market event.

    An event older than the last one decided is ignored (no actions, same state).
    """
    if state.last_ts_ns is not None and snapshot.ts_ns < state.last_ts_ns:
        return state, ()
    mid, reason = _check_book(snapshot)
    state = _observe(state, snapshot, mid, config)
    if reason is None:
        reason = _pull_reason(snapshot, config)
    params = None
    if reason is None and mid is not None:
        params = _model_params(state, config, mid)
        if params is None:
            reason = PullReason.WARMING_UP
    if reason is not None or params is None or mid is None:
        return _pull_all(state, snapshot, reason or PullReason.WARMING_UP)
    assert snapshot.best_bid is not None and snapshot.best_ask is not None  # _check_book
    quotes = build_quotes(
        params,
        mid=mid,
        best_bid=snapshot.best_bid,
        best_ask=snapshot.best_ask,
        inventory=snapshot.position,
        order_size=config.order_size,
        max_inventory=config.max_inventory,
        tick=config.price_tick,
        lot=config.amount_step,
        ts_ns=snapshot.ts_ns,
    )
    actions: list[Action] = []
    resting: list[OpenQuote] = []
    for side, target in ((Side.BUY, quotes.bid), (Side.SELL, quotes.ask)):
        side_actions, side_resting = _reconcile_side(side, target, snapshot, config)
        actions.extend(side_actions)
        resting.extend(side_resting)
    # Cancels first: the gateway frees the budget before it checks the new orders.
    actions.sort(key=lambda action: 0 if isinstance(action, CancelOrder) else 1)
    new_state = state.model_copy(update={"resting": tuple(resting), "pulled": None})
    return new_state, tuple(actions)


# -- HELPERS ------------------------------------------------------------------


def _check_book(snapshot: MarketMakerSnapshot) -> tuple[Decimal | None, PullReason | None]:
    bid, ask = snapshot.best_bid, snapshot.best_ask
    if bid is None or ask is None:
        return None, PullReason.NO_BOOK
    if not (bid.is_finite() and ask.is_finite()) or bid <= 0 or ask <= 0:
        return None, PullReason.BAD_PRICE
    if bid >= ask:
        return None, PullReason.CROSSED_BOOK
    return (bid + ask) / 2, None


def _pull_reason(snapshot: MarketMakerSnapshot, config: MarketMakerConfig) -> PullReason | None:
    if snapshot.breaker is not BreakerState.CLOSED:
        return PullReason.BREAKER
    if snapshot.feed_ts_ns is None or snapshot.ts_ns - snapshot.feed_ts_ns > config.max_feed_age_ns:
        return PullReason.STALE_FEED
    return None


def _observe(
    state: MarketMakerState,
    snapshot: MarketMakerSnapshot,
    mid: Decimal | None,
    config: MarketMakerConfig,
) -> MarketMakerState:
    """Fold the snapshot's trades and mid into the estimators, keyed on feed time.

    Trades are measured against the mid that prevailed before them (the last mid
    seen), or the current one at the start. A stale feed adds no time: the
    estimators must not read silence as calm or as no trading.
    """
    volatility = state.volatility
    intensity = state.intensity
    reference = volatility.last_mid if volatility.last_mid is not None else mid
    if reference is not None:
        reference_f = float(reference)
        for trade in snapshot.trades:
            if trade.venue == config.venue and trade.symbol == config.symbol:
                intensity = record_trade(intensity, float(trade.price), reference_f, trade.ts_ns)
    if snapshot.feed_ts_ns is not None:
        intensity = advance_intensity(intensity, snapshot.feed_ts_ns)
        if mid is not None:
            volatility = update_volatility(volatility, float(mid), snapshot.feed_ts_ns)
    return state.model_copy(
        update={
            "volatility": volatility,
            "intensity": intensity,
            "inventory": snapshot.position,
            "last_ts_ns": snapshot.ts_ns,
            "decisions": state.decisions + 1,
        }
    )


def _model_params(
    state: MarketMakerState, config: MarketMakerConfig, mid: Decimal
) -> ModelParams | None:
    if config.sigma == "estimate":
        sigma_rel = volatility_per_sqrt_s(state.volatility, config.vol_min_returns)
    else:
        sigma_rel = config.sigma
    fit = None
    if config.k == "estimate" or (config.a == "estimate" and config.horizon_mode == "infinite"):
        fit = fit_intensity(
            state.intensity, config.intensity_min_count, config.intensity_min_buckets
        )
        if fit is None:
            return None
    k = fit.k if config.k == "estimate" and fit is not None else config.k
    a = fit.a if config.a == "estimate" and fit is not None else config.a
    if sigma_rel is None or k == "estimate":
        return None
    return ModelParams(
        gamma=config.gamma,
        sigma=sigma_rel * float(mid),
        k=k,
        a=None if a == "estimate" else a,
        mode=config.horizon_mode,
        horizon_s=config.horizon_s,
        vol_floor_multiplier=config.vol_floor_multiplier,
        vol_floor_window_s=config.vol_floor_window_s,
    )


def _pull_all(
    state: MarketMakerState, snapshot: MarketMakerSnapshot, reason: PullReason
) -> tuple[MarketMakerState, tuple[Action, ...]]:
    actions = tuple(CancelOrder(intent_id=order.intent_id) for order in snapshot.open_orders)
    return state.model_copy(update={"resting": (), "pulled": reason}), actions


def _reconcile_side(
    side: Side,
    target: Quote | None,
    snapshot: MarketMakerSnapshot,
    config: MarketMakerConfig,
) -> tuple[list[Action], list[OpenQuote]]:
    """Keep at most one open order on ``side`` that matches ``target``; cancel the rest.

    A partly filled order no longer matches the target amount and is replaced.
    """
    open_on_side = [order for order in snapshot.open_orders if order.side is side]
    kept: OpenQuote | None = None
    if target is not None:
        for order in open_on_side:
            if not needs_refresh(order.price, order.remaining, target, config.refresh_tolerance):
                kept = order
                break
    actions: list[Action] = [
        CancelOrder(intent_id=order.intent_id) for order in open_on_side if order is not kept
    ]
    if target is None:
        return actions, []
    if kept is not None:
        return actions, [kept]
    intent_id = intent_id_for(snapshot.ts_ns, side)
    intent = OrderIntent(
        agent_id=config.agent_id,
        intent_id=intent_id,
        venue=config.venue,
        symbol=config.symbol,
        side=side,
        type=OrderType.LIMIT,
        amount=target.amount,
        price=target.price,
        post_only=True,
    )
    actions.append(PlaceOrder(intent=intent))
    placed = OpenQuote(intent_id=intent_id, side=side, price=target.price, remaining=target.amount)
    return actions, [placed]
