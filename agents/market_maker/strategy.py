"""The market maker as an ``agents.base.Strategy``: its snapshot from the agent's views, its ``decide``."""

from __future__ import annotations

from collections.abc import Sequence

from agents.actions import Action
from agents.base import AccountView, MarketView
from agents.market_maker.logic import (
    MarketMakerConfig,
    MarketMakerSnapshot,
    MarketMakerState,
    OpenQuote,
    PullReason,
    decide,
    initial_state,
)
from core.events import Bar, MarketEvent, TopOfBook, TradeTick
from core.money import ZERO


class MarketMakerStrategy:
    """Quote one symbol on one venue (see ``agents.market_maker.logic``)."""

    def __init__(self, config: MarketMakerConfig) -> None:
        self.config = config
        self.agent_id = config.agent_id

    def wants(self, event: MarketEvent) -> bool:
        """Decide on news of its own market: a book, a trade, a bar."""
        return (event.venue, event.symbol) == (
            self.config.venue,
            self.config.symbol,
        ) and isinstance(event, TopOfBook | TradeTick | Bar)

    def initial_state(self) -> MarketMakerState:
        return initial_state(self.config)

    def snapshot(
        self, market: MarketView, account: AccountView, now_ns: int
    ) -> MarketMakerSnapshot:
        key = (self.config.venue, self.config.symbol)
        top = market.tops.get(key)
        # The views hold checked values already (Decimal prices, Side, the book's own
        # times): built without re-validating them, once per market event.
        quotes = tuple(
            OpenQuote.model_construct(
                intent_id=o.intent_id, side=o.side, price=o.price, remaining=o.amount - o.filled
            )
            for o in account.open_orders
            if (o.venue, o.symbol) == key and o.price is not None
        )
        return MarketMakerSnapshot.model_construct(
            ts_ns=now_ns,
            best_bid=top.bid if top else None,
            best_ask=top.ask if top else None,
            bid_size=top.bid_size if top else None,
            ask_size=top.ask_size if top else None,
            feed_ts_ns=top.ts_ns if top else None,
            position=account.positions.get(key, ZERO),
            open_orders=quotes,
            breaker=account.breaker,
            trades=market.take_trades(key),
        )

    def decide(
        self, state: MarketMakerState, snapshot: MarketMakerSnapshot
    ) -> tuple[MarketMakerState, Sequence[Action]]:
        return decide(state, snapshot, self.config)

    def idle_reason(self, state: MarketMakerState) -> str | None:
        """Say in one line, with numbers, what kept the agent from quoting (None: it quoted)."""
        return idle_reason(state, self.config)


def idle_reason(state: MarketMakerState, config: MarketMakerConfig) -> str | None:
    """Return what held the market maker back, from what ``decide`` recorded in ``state``.

    ``None`` once it has quoted: the orders speak for it then.
    """
    market = f"{config.venue} {config.symbol}"
    if state.decisions == 0:
        return f"no market event of {market} reached it"
    if state.quoting:
        return None
    if state.sized_out:
        return (
            f"quotes priced on {state.sized_out} of {state.decisions} decisions but no side "
            f"fits: order {config.order_notional} within inventory limit "
            f"{config.max_inventory_notional} (notional) is less than one lot "
            f"{config.amount_step} of {market}"
        )
    if not state.pull_counts:
        return None
    reason, count = max(state.pull_counts.items(), key=lambda item: item[1])
    line = f"quotes pulled: {reason} on {count} of {state.decisions} decisions"
    if reason == PullReason.STALE_FEED:
        line += f" (feed older than {config.max_feed_age_ns / 1e9:g} s)"
    elif reason == PullReason.WARMING_UP:
        line += (
            f" (volatility: {state.volatility.returns} of {config.vol_min_returns} mid changes"
            f"{'' if config.k != 'estimate' else '; fill intensity: trades at too few depths'})"
        )
    return line
