"""The liquidation hunter's pure decision: ``decide(state, snapshot, config) -> (state, actions)``.

One call per market event. The snapshot carries the top of book, the event
time, the newest feed time, the forced liquidations, public trades and bars
since the previous call, the position and open orders *as the gateway reports
them*, and the breaker state.

Detection (per side). A long-liquidation cascade is the sell-side forced
notional within ``cascade_window_ns`` reaching the three thresholds of the
config (absolute, against traded notional, against the bid depth at the
touch); a short squeeze is the same on the buy side against the ask depth.
A detected side is latched until its window notional falls back below
``min_cascade_notional``, so one cascade is counted and traded once.

Trading. After a long-liquidation cascade the hunter rests a post-only buy
``entry_offset_bps`` below the bid (a short squeeze: a sell above the ask),
rounded away from the market to the tick, sized to the lot and the per-symbol
cap. Once a position exists it rests a reduce-only post-only take-profit and
watches a hard stop and a time stop, both sent as reduce-only market orders.
Exits never exceed the position, so they cannot open the other side; no entry
is made while a position or an entry is open, during the cooldown after a
round trip, or on a thin book.

Bad snapshots. When the breaker is not CLOSED every open order is cancelled
and nothing is placed. When the feed is stale or the book is missing,
crossed, locked or carries a NaN / non-positive price, open entries are
cancelled and nothing is placed (a resting reduce-only take-profit stays).

Intent ids are pure functions of the cascade's detection time, the trade's
direction and the leg: ``lh-{detected_ns}-{long|short}-entry``, and
``...-tp-{ts_ns}``, ``...-stop-{ts_ns}``, ``...-time-{ts_ns}`` for exits
placed at event ``ts_ns``. Re-deciding the same event gives the same ids.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.liquidation_hunter.config import LiquidationHunterConfig
from core.events import Bar, Liquidation, TradeTick
from core.models import Frozen, OrderType, Side, TimeInForce
from core.money import ZERO, Dec, quantize_to_step
from gateway.breaker import BreakerState
from gateway.intents import OrderIntent

_BPS = Decimal(10_000)
LiquidatedSide = Literal["buy", "sell"]

# -- SNAPSHOT -----------------------------------------------------------------


class OpenOrderView(Frozen):
    """One of the agent's open orders, as the gateway reports it."""

    intent_id: str
    side: Side
    price: Dec | None
    remaining: Dec
    reduce_only: bool = False


class HunterSnapshot(Frozen):
    """What the agent knows at ``ts_ns``; book values may be bad (NaN, crossed): decide checks."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=True)

    ts_ns: int
    best_bid: Decimal | None
    bid_size: Decimal | None = None
    best_ask: Decimal | None
    ask_size: Decimal | None = None
    feed_ts_ns: int | None  # time of the newest market data the feed delivered
    position: Dec = ZERO  # signed base amount
    entry_price: Dec | None = None  # the position's average entry, when the gateway knows it
    open_orders: tuple[OpenOrderView, ...] = ()
    breaker: BreakerState = BreakerState.CLOSED
    liquidations: tuple[Liquidation, ...] = ()  # since the previous call, oldest first
    trades: tuple[TradeTick, ...] = ()
    bars: tuple[Bar, ...] = ()


# -- STATE --------------------------------------------------------------------


class HoldReason(StrEnum):
    """Why no entry may be placed on this snapshot."""

    BREAKER = "breaker_not_closed"
    STALE_FEED = "stale_feed"
    NO_BOOK = "no_book"
    BAD_PRICE = "bad_price"
    CROSSED_BOOK = "crossed_book"


class ExitReason(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP = "stop"
    TIME = "time"


class Cascade(Frozen):
    """A detected cascade: ``side`` is the liquidation orders' side."""

    detected_ns: int
    side: LiquidatedSide
    notional: Dec
    mid: Dec


class PendingEntry(Frozen):
    """An entry order placed after ``cascade`` and not yet (fully) filled."""

    cascade_ns: int
    intent_id: str
    side: Side
    price: Dec
    placed_ns: int


class ActiveTrade(Frozen):
    """A position the hunter holds; ``side`` is the entry's side (BUY: long)."""

    cascade_ns: int
    side: Side
    entry_price: Dec
    opened_ns: int
    exit_reason: ExitReason | None = None
    last_exit_ns: int | None = None


class Tally(Frozen):
    """Counters of what the hunter did, for metrics and the backtest report."""

    cascades_long_liquidations: int = 0
    cascades_short_liquidations: int = 0
    entries_placed: int = 0
    trades_opened: int = 0
    exits: tuple[tuple[ExitReason, int], ...] = (
        (ExitReason.TAKE_PROFIT, 0),
        (ExitReason.STOP, 0),
        (ExitReason.TIME, 0),
    )

    def with_exit(self, reason: ExitReason) -> Tally:
        exits = tuple((r, n + 1 if r is reason else n) for r, n in self.exits)
        return self.model_copy(update={"exits": exits})


class HunterState(Frozen):
    """Everything ``decide`` carries from one call to the next."""

    liquidations: tuple[tuple[int, LiquidatedSide, Dec], ...] = ()  # (ts_ns, side, notional)
    traded: tuple[tuple[int, Dec], ...] = ()  # (ts_ns, notional)
    latched: tuple[LiquidatedSide, ...] = ()
    cascades: tuple[Cascade, ...] = ()  # every detection, oldest first
    pending: PendingEntry | None = None
    trade: ActiveTrade | None = None
    cooldown_until_ns: int | None = None
    last_ts_ns: int | None = None
    hold: HoldReason | None = None
    tally: Tally = Tally()


def initial_state() -> HunterState:
    """Return the empty state of a fresh (or restarted) agent."""
    return HunterState()


def intent_id_for(cascade_ns: int, side: Side, leg: str, ts_ns: int | None = None) -> str:
    """Return the intent id of ``leg`` of the trade that cascade ``cascade_ns`` started.

    ``side`` is the entry's side; exit legs add the time of the event that placed them.
    """
    direction = "long" if side is Side.BUY else "short"
    base = f"lh-{cascade_ns}-{direction}-{leg}"
    return base if ts_ns is None else f"{base}-{ts_ns}"


# -- DECIDE -------------------------------------------------------------------


def decide(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> tuple[HunterState, tuple[Action, ...]]:
    """Return the next state and the actions for one market event.

    An event older than the last one decided is ignored (no actions, same state).
    """
    if state.last_ts_ns is not None and snapshot.ts_ns < state.last_ts_ns:
        return state, ()
    state = _observe(state, snapshot, config)
    state = _track_position(state, snapshot, config)
    mid, hold = _check_book(snapshot)
    if hold is None:
        hold = _hold_reason(snapshot, config)
    state = state.model_copy(update={"hold": hold})
    if hold is HoldReason.BREAKER:
        cancels = tuple(CancelOrder(intent_id=o.intent_id) for o in snapshot.open_orders)
        return state.model_copy(update={"pending": None}), cancels
    if hold is not None or mid is None:
        cancels = tuple(
            CancelOrder(intent_id=o.intent_id) for o in snapshot.open_orders if not o.reduce_only
        )
        return state.model_copy(update={"pending": None}), cancels
    state = _detect(state, snapshot, config, mid)
    if state.trade is not None:
        return _manage_trade(state, snapshot, config, mid)
    return _manage_entry(state, snapshot, config)


# -- OBSERVING ----------------------------------------------------------------


def _observe(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> HunterState:
    """Fold the new liquidations and traded notional into the windows; drop what expired."""
    now = snapshot.ts_ns
    liquidations = list(state.liquidations)
    for event in snapshot.liquidations:
        if event.venue == config.venue and event.symbol == config.symbol:
            notional = event.price * event.amount
            if notional.is_finite() and notional > 0:
                liquidations.append((event.ts_ns, event.side, notional))
    traded = list(state.traded)
    for trade in snapshot.trades:
        if trade.venue == config.venue and trade.symbol == config.symbol:
            traded.append((trade.ts_ns, trade.price * trade.amount))
    for bar in snapshot.bars:
        if bar.venue == config.venue and bar.symbol == config.symbol:
            traded.append((bar.ts_ns, bar.close * bar.volume))
    liquidation_start = now - config.cascade_window_ns
    volume_start = now - config.volume_window_ns
    return state.model_copy(
        update={
            "liquidations": tuple(e for e in liquidations if e[0] > liquidation_start),
            "traded": tuple(e for e in traded if e[0] > volume_start and e[1].is_finite()),
            "last_ts_ns": now,
        }
    )


def _track_position(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> HunterState:
    """Open or close the active trade from the position the gateway reports."""
    position = snapshot.position
    trade = state.trade
    if trade is None and position != 0:
        side = Side.BUY if position > 0 else Side.SELL
        pending = state.pending
        entry = snapshot.entry_price
        if entry is None and pending is not None:
            entry = pending.price
        if entry is None:
            entry = _mid_or_none(snapshot)
        if entry is None:
            return state  # an unknown entry price cannot set exits; wait for a good book
        cascade_ns = pending.cascade_ns if pending is not None else snapshot.ts_ns
        opened = ActiveTrade(
            cascade_ns=cascade_ns, side=side, entry_price=entry, opened_ns=snapshot.ts_ns
        )
        tally = state.tally.model_copy(update={"trades_opened": state.tally.trades_opened + 1})
        return state.model_copy(update={"trade": opened, "tally": tally})
    if trade is not None and position == 0:
        reason = trade.exit_reason or ExitReason.TAKE_PROFIT
        return state.model_copy(
            update={
                "trade": None,
                "pending": None,
                "cooldown_until_ns": snapshot.ts_ns + config.cooldown_ns,
                "tally": state.tally.with_exit(reason),
            }
        )
    if trade is not None and snapshot.entry_price is not None:
        if snapshot.entry_price != trade.entry_price:  # a later partial fill moved the average
            updated = trade.model_copy(update={"entry_price": snapshot.entry_price})
            return state.model_copy(update={"trade": updated})
    return state


def _mid_or_none(snapshot: HunterSnapshot) -> Decimal | None:
    mid, hold = _check_book(snapshot)
    return mid if hold is None else None


def _check_book(snapshot: HunterSnapshot) -> tuple[Decimal | None, HoldReason | None]:
    bid, ask = snapshot.best_bid, snapshot.best_ask
    if bid is None or ask is None:
        return None, HoldReason.NO_BOOK
    if not (bid.is_finite() and ask.is_finite()) or bid <= 0 or ask <= 0:
        return None, HoldReason.BAD_PRICE
    for size in (snapshot.bid_size, snapshot.ask_size):
        if size is not None and (not size.is_finite() or size < 0):
            return None, HoldReason.BAD_PRICE
    if bid >= ask:
        return None, HoldReason.CROSSED_BOOK
    return (bid + ask) / 2, None


def _hold_reason(snapshot: HunterSnapshot, config: LiquidationHunterConfig) -> HoldReason | None:
    if snapshot.breaker is not BreakerState.CLOSED:
        return HoldReason.BREAKER
    if snapshot.feed_ts_ns is None or snapshot.ts_ns - snapshot.feed_ts_ns > config.max_feed_age_ns:
        return HoldReason.STALE_FEED
    return None


# -- DETECTION ----------------------------------------------------------------


def window_notional(state: HunterState, side: LiquidatedSide) -> Decimal:
    """Return the liquidated notional of ``side`` inside the current cascade window."""
    return sum((n for _, s, n in state.liquidations if s == side), ZERO)


def _is_cascade(
    notional: Decimal, traded: Decimal, depth: Decimal | None, config: LiquidationHunterConfig
) -> bool:
    if notional <= 0 or notional < config.min_cascade_notional:
        return False
    if notional < config.min_volume_ratio * traded:
        return False
    return depth is None or notional >= config.min_depth_ratio * depth


def _detect(
    state: HunterState,
    snapshot: HunterSnapshot,
    config: LiquidationHunterConfig,
    mid: Decimal,
) -> HunterState:
    """Latch and record each side whose window notional makes a cascade; unlatch faded sides."""
    traded = sum((n for _, n in state.traded), ZERO)
    assert snapshot.best_bid is not None and snapshot.best_ask is not None  # _check_book
    depth_at: dict[LiquidatedSide, Decimal | None] = {
        "sell": None if snapshot.bid_size is None else snapshot.bid_size * snapshot.best_bid,
        "buy": None if snapshot.ask_size is None else snapshot.ask_size * snapshot.best_ask,
    }
    latched = list(state.latched)
    cascades = list(state.cascades)
    tally = state.tally
    for side in ("sell", "buy"):
        notional = window_notional(state, side)
        if side in latched:
            if notional < config.min_cascade_notional:
                latched.remove(side)
            continue
        if _is_cascade(notional, traded, depth_at[side], config):
            latched.append(side)
            cascades.append(
                Cascade(detected_ns=snapshot.ts_ns, side=side, notional=notional, mid=mid)
            )
            if side == "sell":
                tally = tally.model_copy(
                    update={"cascades_long_liquidations": tally.cascades_long_liquidations + 1}
                )
            else:
                tally = tally.model_copy(
                    update={"cascades_short_liquidations": tally.cascades_short_liquidations + 1}
                )
    return state.model_copy(
        update={"latched": tuple(latched), "cascades": tuple(cascades), "tally": tally}
    )


# -- ENTRY --------------------------------------------------------------------


def entry_price_for(
    side: Side, bid: Decimal, ask: Decimal, config: LiquidationHunterConfig
) -> Decimal:
    """Return the entry price ``entry_offset_bps`` beyond the touch, rounded away from it."""
    offset = config.entry_offset_bps / _BPS
    if side is Side.BUY:
        return quantize_to_step(bid * (1 - offset), config.price_tick, "down")
    return quantize_to_step(ask * (1 + offset), config.price_tick, "up")


def _manage_entry(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> tuple[HunterState, tuple[Action, ...]]:
    """Expire a stale entry, or place one after a fresh cascade when every gate is open."""
    now = snapshot.ts_ns
    actions: list[Action] = []
    pending = state.pending
    open_entries = [o for o in snapshot.open_orders if not o.reduce_only]
    if pending is not None:
        still_open = any(o.intent_id == pending.intent_id for o in open_entries)
        if still_open and now - pending.placed_ns < config.entry_ttl_ns:
            return state, ()
        actions.extend(CancelOrder(intent_id=o.intent_id) for o in open_entries)
        return state.model_copy(update={"pending": None}), tuple(actions)
    # Orders this state does not know (a restart): cancel rather than guess their purpose.
    actions.extend(CancelOrder(intent_id=o.intent_id) for o in open_entries)
    cascade = state.cascades[-1] if state.cascades else None
    if cascade is None or cascade.detected_ns != now:
        return state, tuple(actions)
    if state.cooldown_until_ns is not None and now < state.cooldown_until_ns:
        return state, tuple(actions)
    bid, ask = snapshot.best_bid, snapshot.best_ask
    assert bid is not None and ask is not None  # decide checked the book
    for size in (snapshot.bid_size, snapshot.ask_size):
        if size is None or size < config.min_top_depth:
            return state, tuple(actions)  # a thin (or unknown) book: no entry
    room = config.max_position - abs(snapshot.position)
    amount = quantize_to_step(min(config.order_size, room), config.amount_step, "down")
    if amount <= 0:
        return state, tuple(actions)
    side = Side.BUY if cascade.side == "sell" else Side.SELL
    price = entry_price_for(side, bid, ask, config)
    if price <= 0:
        return state, tuple(actions)
    intent_id = intent_id_for(cascade.detected_ns, side, "entry")
    actions.append(PlaceOrder(intent=_limit(config, intent_id, side, amount, price, False)))
    entry = PendingEntry(
        cascade_ns=cascade.detected_ns, intent_id=intent_id, side=side, price=price, placed_ns=now
    )
    tally = state.tally.model_copy(update={"entries_placed": state.tally.entries_placed + 1})
    return state.model_copy(update={"pending": entry, "tally": tally}), tuple(actions)


# -- EXITS --------------------------------------------------------------------


def exit_prices(trade: ActiveTrade, config: LiquidationHunterConfig) -> tuple[Decimal, Decimal]:
    """Return (take-profit, stop) of ``trade``, each rounded to the tick on the safe side."""
    sign = trade.side.sign
    take = trade.entry_price * (1 + sign * config.take_profit_bps / _BPS)
    stop = trade.entry_price * (1 - sign * config.stop_loss_bps / _BPS)
    if trade.side is Side.BUY:
        return (
            quantize_to_step(take, config.price_tick, "up"),
            quantize_to_step(stop, config.price_tick, "up"),
        )
    return (
        quantize_to_step(take, config.price_tick, "down"),
        quantize_to_step(stop, config.price_tick, "down"),
    )


def _manage_trade(
    state: HunterState,
    snapshot: HunterSnapshot,
    config: LiquidationHunterConfig,
    mid: Decimal,
) -> tuple[HunterState, tuple[Action, ...]]:
    """Rest the take-profit; send a reduce-only market exit on the stop or the time stop."""
    trade = state.trade
    assert trade is not None and snapshot.best_bid is not None and snapshot.best_ask is not None
    now = snapshot.ts_ns
    size = abs(snapshot.position)
    held_side = Side.BUY if snapshot.position > 0 else Side.SELL
    if held_side is not trade.side:  # the position flipped outside this agent: re-anchor
        trade = trade.model_copy(update={"side": held_side})
    exit_side = trade.side.opposite
    take, stop = exit_prices(trade, config)
    reason: ExitReason | None = None
    if (trade.side is Side.BUY and mid <= stop) or (trade.side is Side.SELL and mid >= stop):
        reason = ExitReason.STOP
    elif now - trade.opened_ns >= config.max_hold_ns:
        reason = ExitReason.TIME
    if reason is None and trade.exit_reason is not None:
        reason = trade.exit_reason  # once exiting, keep exiting
    actions: list[Action] = []
    if reason is not None:
        actions.extend(CancelOrder(intent_id=o.intent_id) for o in snapshot.open_orders)
        recent = trade.last_exit_ns is not None and now - trade.last_exit_ns < config.exit_retry_ns
        amount = quantize_to_step(size, config.amount_step, "down")
        if not recent and amount > 0:
            leg = "stop" if reason is ExitReason.STOP else "time"
            intent = OrderIntent(
                agent_id=config.agent_id,
                intent_id=intent_id_for(trade.cascade_ns, trade.side, leg, now),
                venue=config.venue,
                symbol=config.symbol,
                side=exit_side,
                type=OrderType.MARKET,
                amount=amount,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
            )
            actions.append(PlaceOrder(intent=intent))
            trade = trade.model_copy(update={"exit_reason": reason, "last_exit_ns": now})
        return state.model_copy(update={"trade": trade, "pending": None}), tuple(actions)
    # Keep exactly one take-profit for the whole position, resting on the passive side.
    if exit_side is Side.SELL:
        price = max(take, snapshot.best_ask)
    else:
        price = min(take, snapshot.best_bid)
    amount = quantize_to_step(size, config.amount_step, "down")
    takes = [o for o in snapshot.open_orders if o.reduce_only and o.side is exit_side]
    kept = next((o for o in takes if o.remaining == amount and o.price == price), None)
    if kept is None:
        kept = next((o for o in takes if o.remaining == amount and o.price == take), None)
    actions.extend(CancelOrder(intent_id=o.intent_id) for o in takes if o is not kept)
    if kept is None and amount > 0:
        intent_id = intent_id_for(trade.cascade_ns, trade.side, "tp", now)
        actions.append(PlaceOrder(intent=_limit(config, intent_id, exit_side, amount, price, True)))
    # Cancels first: the gateway frees the budget before it checks the new orders.
    actions.sort(key=lambda action: 0 if isinstance(action, CancelOrder) else 1)
    return state.model_copy(update={"trade": trade}), tuple(actions)


def _limit(
    config: LiquidationHunterConfig,
    intent_id: str,
    side: Side,
    amount: Decimal,
    price: Decimal,
    reduce_only: bool,
) -> OrderIntent:
    return OrderIntent(
        agent_id=config.agent_id,
        intent_id=intent_id,
        venue=config.venue,
        symbol=config.symbol,
        side=side,
        type=OrderType.LIMIT,
        amount=amount,
        price=price,
        post_only=True,
        reduce_only=reduce_only,
    )
