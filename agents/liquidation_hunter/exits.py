"""The hunter's exits: a resting reduce-only take-profit, a stop and a time stop, pure.

Exits never exceed the position, so they cannot open the other side.
"""

from __future__ import annotations

from decimal import Decimal

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.state import (
    ActiveTrade,
    ExitReason,
    HunterSnapshot,
    HunterState,
    intent_id_for,
)
from core.models import OrderType, Side, TimeInForce
from core.money import quantize_to_step
from gateway.intents import OrderIntent

_BPS = Decimal(10_000)

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


def manage_trade(
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
        actions.append(
            PlaceOrder(intent=limit_intent(config, intent_id, exit_side, amount, price, True))
        )
    # Cancels first: the gateway frees the budget before it checks the new orders.
    actions.sort(key=lambda action: 0 if isinstance(action, CancelOrder) else 1)
    return state.model_copy(update={"trade": trade}), tuple(actions)


def limit_intent(
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
