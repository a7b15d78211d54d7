"""The market maker's pure decision: ``decide(state, snapshot, config) -> (state, actions)``.

One call per market event. The snapshot carries what the agent may know: the
top of book, the event time, the newest feed time, the public trades since the
last call, the position and open orders *as the gateway reports them*, and the
breaker state. The core updates its estimators, then either pulls every quote
(``CancelOrder`` for each open order) or reconciles the open orders with the
model's targets: an order within the refresh tolerance stays, others are
cancelled and replaced by a post-only ``PlaceOrder``.

The quotes are Avellaneda-Stoikov's in bps of the mid (``quoting.py``), centred on
the mid moved towards the microprice, their total spread floored at twice the maker
fee plus the adverse selection measured after the agent's own fills plus an edge
(``adverse.py``), sized in notional, the inventory limited in notional.

Quotes are pulled when the breaker is not CLOSED, the feed is older than
``max_feed_age_ns``, the book is empty, one-sided, crossed, locked or carries a
NaN / non-positive price, or the estimators have not warmed up. The state counts the
decisions pulled by reason and keeps the last quotes' figures (``idle_reason``).

Intent ids are ``f"mm-{ts_ns}-bid"`` / ``f"mm-{ts_ns}-ask"``: a pure function of
the event time and the side. A restarted agent re-deciding the same event emits
the same ids, and the gateway's idempotency turns the repeat into a no-op
instead of a second order. Cancels name the open order's own intent id.
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal
from enum import StrEnum

from pydantic import ConfigDict, Field

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.market_maker.adverse import (
    AdverseState,
    adverse_bps,
    new_adverse_state,
    record_fill,
    resolve,
)
from agents.market_maker.config import Estimate, MarketMakerConfig
from agents.market_maker.estimators import (
    FlowState,
    IntensityFit,
    IntensityState,
    VolatilityState,
    advance_intensity,
    fit_intensity,
    flow_imbalance,
    new_intensity_state,
    record_trade,
    update_flow,
    update_volatility,
    volatility_per_sqrt_s,
)
from agents.market_maker.quoting import (
    ModelParams,
    Quote,
    QuoteSizing,
    build_quotes,
    needs_refresh,
)
from core.events import TradeTick
from core.models import Frozen, OrderType, Side
from core.money import ZERO, Dec
from gateway.breaker import BreakerState
from gateway.intents import OrderIntent

__all__ = [
    "Estimate",
    "MarketMakerConfig",
    "MarketMakerSnapshot",
    "MarketMakerState",
    "OpenQuote",
    "PullReason",
    "decide",
    "initial_state",
    "intent_id_for",
]

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
    bid_size: Decimal | None = None  # amounts at the best bid and ask (for the microprice)
    ask_size: Decimal | None = None
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


class QuoteFigures(Frozen):
    """The numbers behind the last quotes (bps of the mid), kept for ``idle_reason``."""

    fee_bps: float
    adverse_bps: float
    edge_bps: float
    model_spread_bps: float
    spread_bps: float


class MarketMakerState(Frozen):
    """Everything ``decide`` carries from one call to the next."""

    inventory: Dec = ZERO
    resting: tuple[OpenQuote, ...] = ()  # the open orders expected after the last actions
    volatility: VolatilityState
    intensity: IntensityState
    adverse: AdverseState
    flow: FlowState
    last_ts_ns: int | None = None
    decisions: int = 0
    pulled: PullReason | None = None
    pull_counts: dict[str, int] = Field(default_factory=dict)  # decisions pulled, by reason
    quoting: int = 0  # decisions that quoted at least one side
    sized_out: int = 0  # decisions with quotes priced but no side the limits allow
    figures: QuoteFigures | None = None
    placed_ns: tuple[int, ...] = ()  # times of the placements in the last minute
    throttled: int = 0  # decisions that wanted to place but had used the minute's budget
    fit: IntensityFit | None = None  # the last intensity fit, reused while its k holds
    fit_trades: int = -1  # the estimator's print count when ``fit`` was made


def initial_state(config: MarketMakerConfig) -> MarketMakerState:
    """Return the empty state of a fresh (or restarted) agent."""
    return MarketMakerState(
        volatility=VolatilityState(half_life_s=config.vol_half_life_s),
        intensity=new_intensity_state(
            config.depth_bucket_bps, config.depth_buckets, config.intensity_half_life_s
        ),
        adverse=new_adverse_state(config.adverse_prior_bps, config.adverse_prior_weight),
        flow=FlowState(half_life_s=config.flow_half_life_s),
    )


MINUTE_NS = 60_000_000_000


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
        params, state = _model_params(state, config)
        if params is None:
            reason = PullReason.WARMING_UP
    if reason is not None or params is None or mid is None:
        return _pull_all(state, snapshot, reason or PullReason.WARMING_UP)
    assert snapshot.best_bid is not None and snapshot.best_ask is not None  # _check_book
    fee = config.maker_fee_bps()
    adverse = adverse_bps(state.adverse)
    floor = 2.0 * (fee + adverse + config.min_edge_bps)
    sizing = QuoteSizing(
        order_notional=config.order_notional,
        max_inventory_notional=config.max_inventory_notional,
        inventory_unit_notional=config.inventory_unit,
        tick=config.price_tick,
        lot=config.amount_step,
        min_notional=config.min_notional(),
    )
    quotes = build_quotes(
        params,
        sizing,
        best_bid=snapshot.best_bid,
        best_ask=snapshot.best_ask,
        bid_size=snapshot.bid_size,
        ask_size=snapshot.ask_size,
        inventory=snapshot.position,
        floor_bps=floor,
        microprice_weight=config.microprice_weight,
        ts_ns=snapshot.ts_ns,
        centre_shift_bps=config.flow_weight_bps * flow_imbalance(state.flow),
    )
    actions: list[Action] = []
    resting: list[OpenQuote] = []
    window_start = snapshot.ts_ns - MINUTE_NS
    placed = state.placed_ns[bisect_right(state.placed_ns, window_start) :]  # kept in time order
    budget = config.max_orders_per_minute - len(placed)
    throttled = False
    for side, target in ((Side.BUY, quotes.bid), (Side.SELL, quotes.ask)):
        side_actions, side_resting = _reconcile_side(side, target, snapshot, config, budget > 0)
        if target is not None and not side_resting:
            throttled = True
        placing = sum(isinstance(action, PlaceOrder) for action in side_actions)
        budget -= placing
        placed += (snapshot.ts_ns,) * placing
        actions.extend(side_actions)
        resting.extend(side_resting)
    # Cancels first: the gateway frees the budget before it checks the new orders.
    actions.sort(key=lambda action: 0 if isinstance(action, CancelOrder) else 1)
    quoted = quotes.bid is not None or quotes.ask is not None
    figures = QuoteFigures.model_construct(
        fee_bps=fee,
        adverse_bps=adverse,
        edge_bps=config.min_edge_bps,
        model_spread_bps=quotes.model_spread_bps,
        spread_bps=quotes.delta_bid + quotes.delta_ask,
    )
    new_state = state.model_copy(
        update={
            "resting": tuple(resting),
            "pulled": None,
            "quoting": state.quoting + quoted,
            "sized_out": state.sized_out + (not quoted),
            "figures": figures,
            "placed_ns": placed,
            "throttled": state.throttled + throttled,
        }
    )
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
    """Fold the snapshot's trades, mid and own fills into the estimators, keyed on feed time.

    Trades are measured in bps against the mid that prevailed before them (the last mid
    seen), or the current one at the start. A stale feed adds no time: the estimators
    must not read silence as calm or as no trading. A change of the position since the
    last decision is an own fill: its side and the mid quoted against before it go to the
    adverse-selection estimator, which measures the mid ``adverse_horizon_s`` later.
    """
    volatility = state.volatility
    intensity = state.intensity
    adverse = state.adverse
    flow = state.flow
    reference = volatility.last_mid if volatility.last_mid is not None else mid
    if reference is not None:
        reference_f = float(reference)
        for trade in snapshot.trades:
            if trade.venue == config.venue and trade.symbol == config.symbol:
                price = float(trade.price)
                intensity = record_trade(intensity, price / reference_f * 1e4, 1e4, trade.ts_ns)
                notional = price * float(trade.amount)
                flow = update_flow(flow, trade.side == "buy", notional, trade.ts_ns)
    filled = snapshot.position - state.inventory
    if filled and state.last_ts_ns is not None and reference is not None:
        side = 1 if filled > 0 else -1
        adverse = record_fill(adverse, side, snapshot.ts_ns, float(reference))
    if snapshot.feed_ts_ns is not None:
        intensity = advance_intensity(intensity, snapshot.feed_ts_ns)
        if mid is not None:
            volatility = update_volatility(volatility, float(mid), snapshot.feed_ts_ns)
    if mid is not None:
        adverse = resolve(
            adverse,
            snapshot.ts_ns,
            float(mid),
            config.adverse_horizon_s,
            config.adverse_half_life_fills,
        )
    return state.model_copy(
        update={
            "volatility": volatility,
            "intensity": intensity,
            "adverse": adverse,
            "flow": flow,
            "inventory": snapshot.position,
            "last_ts_ns": snapshot.ts_ns,
            "decisions": state.decisions + 1,
        }
    )


def _model_params(
    state: MarketMakerState, config: MarketMakerConfig
) -> tuple[ModelParams | None, MarketMakerState]:
    """Return the model's inputs (None while an estimator warms up) and the state.

    The intensity fit is reused while no print arrived and its ``k`` still holds (see
    ``IntensityFit.k_valid_until_ns``); a fit that needs ``A`` (the infinite horizon) is
    redone at every decision, as ``A`` moves with the time observed.
    """
    if config.sigma == "estimate":
        sigma_rel = volatility_per_sqrt_s(state.volatility, config.vol_min_returns)
    else:
        sigma_rel = config.sigma
    fit = None
    needs_a = config.a == "estimate" and config.horizon_mode == "infinite"
    if config.k == "estimate" or needs_a:
        fit = _cached_fit(state) if not needs_a else None
        if fit is None:
            fit = fit_intensity(
                state.intensity, config.intensity_min_count, config.intensity_min_buckets
            )
            if fit is not None:
                state = state.model_copy(update={"fit": fit, "fit_trades": state.intensity.trades})
        if fit is None:
            return None, state
    k = fit.k if config.k == "estimate" and fit is not None else config.k
    a = fit.a if config.a == "estimate" and fit is not None else config.a
    if sigma_rel is None or k == "estimate":
        return None, state
    return ModelParams(
        gamma=config.gamma,
        sigma=sigma_rel * 1e4,
        k=k,
        a=None if a == "estimate" else a,
        mode=config.horizon_mode,
        horizon_s=config.horizon_s,
        vol_floor_multiplier=config.vol_floor_multiplier,
        vol_floor_window_s=config.vol_floor_window_s,
    ), state


def _cached_fit(state: MarketMakerState) -> IntensityFit | None:
    """Return the last fit if no print arrived since and its ``k`` still holds, else None."""
    fit, now = state.fit, state.intensity.last_ts_ns
    if fit is None or state.fit_trades != state.intensity.trades or now is None:
        return None
    if fit.k_valid_until_ns is None or now > fit.k_valid_until_ns:
        return None
    return fit


def _pull_all(
    state: MarketMakerState, snapshot: MarketMakerSnapshot, reason: PullReason
) -> tuple[MarketMakerState, tuple[Action, ...]]:
    actions = tuple(CancelOrder(intent_id=order.intent_id) for order in snapshot.open_orders)
    counts = dict(state.pull_counts)
    counts[reason.value] = counts.get(reason.value, 0) + 1
    update = {"resting": (), "pulled": reason, "pull_counts": counts}
    return state.model_copy(update=update), actions


def _reconcile_side(
    side: Side,
    target: Quote | None,
    snapshot: MarketMakerSnapshot,
    config: MarketMakerConfig,
    may_place: bool = True,
) -> tuple[list[Action], list[OpenQuote]]:
    """Keep at most one open order on ``side`` that matches ``target``; cancel the rest.

    An order that drifted more than ``refresh_ticks`` ticks from the target, or whose
    amount no longer fits (a partial fill, the inventory limit), is replaced. When the
    order budget is spent (``may_place`` false) a drifted order stays unless the target
    moved behind it (it would now buy too high or sell too low) or its amount no longer
    fits: then it is only cancelled.
    """
    open_on_side = [order for order in snapshot.open_orders if order.side is side]
    kept: OpenQuote | None = None
    if target is not None:
        for order in open_on_side:
            if not needs_refresh(
                order.price, order.remaining, target, config.refresh_ticks, config.price_tick
            ) or (not may_place and _still_safe(order, target)):
                kept = order
                break
    actions: list[Action] = [
        CancelOrder(intent_id=order.intent_id) for order in open_on_side if order is not kept
    ]
    if target is None:
        return actions, []
    if kept is not None:
        return actions, [kept]
    if not may_place:
        return actions, []
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


def _still_safe(order: OpenQuote, target: Quote) -> bool:
    """Tell whether a drifted order may stay: no more aggressive than the target, amount fits."""
    if target.room is not None and order.remaining > target.room:
        return False
    if order.side is Side.BUY:
        return order.price <= target.price
    return order.price >= target.price
