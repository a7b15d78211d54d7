"""The liquidation hunter as an ``agents.base.Strategy``: its snapshot from the agent's views."""

from __future__ import annotations

from collections.abc import Sequence

from agents.actions import Action
from agents.base import AccountView, MarketView
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.explain import idle_reason
from agents.liquidation_hunter.logic import (
    HunterSnapshot,
    HunterState,
    OpenOrderView,
    decide,
    initial_state,
)
from core.events import Bar, Liquidation, MarketEvent, MarkEvent, TopOfBook, TradeTick
from core.money import ZERO


class LiquidationHunterStrategy:
    """Trade forced-liquidation cascades on one market (see ``agents.liquidation_hunter.logic``)."""

    def __init__(self, config: LiquidationHunterConfig) -> None:
        self.config = config
        self.agent_id = config.agent_id

    def wants(self, event: MarketEvent) -> bool:
        """Decide on liquidations and on news of its own market (open interest: marks)."""
        return (event.venue, event.symbol) == (
            self.config.venue,
            self.config.symbol,
        ) and isinstance(event, Liquidation | TopOfBook | TradeTick | Bar | MarkEvent)

    def initial_state(self) -> HunterState:
        return initial_state()

    def snapshot(self, market: MarketView, account: AccountView, now_ns: int) -> HunterSnapshot:
        key = (self.config.venue, self.config.symbol)
        top = market.tops.get(key)
        bar = market.bars.get(key)
        mine = [liq for liq in market.take_liquidations() if (liq.venue, liq.symbol) == key]
        mark = market.marks.get(key)
        return HunterSnapshot(
            ts_ns=now_ns,
            best_bid=top.bid if top else None,
            bid_size=top.bid_size if top else None,
            best_ask=top.ask if top else None,
            ask_size=top.ask_size if top else None,
            feed_ts_ns=top.ts_ns if top else None,
            position=account.positions.get(key, ZERO),
            open_orders=tuple(
                OpenOrderView(
                    intent_id=o.intent_id,
                    side=o.side,
                    price=o.price,
                    remaining=o.amount - o.filled,
                    reduce_only=o.reduce_only,
                )
                for o in account.open_orders
                if (o.venue, o.symbol) == key
            ),
            breaker=account.breaker,
            liquidations=tuple(mine),
            trades=market.take_trades(key),
            bars=(bar,) if bar is not None and bar.ts_ns > now_ns - 60_000_000_000 else (),
            open_interest=mark.open_interest if mark is not None else None,
            open_interest_ts_ns=mark.ts_ns if mark is not None else None,
        )

    def decide(
        self, state: HunterState, snapshot: HunterSnapshot
    ) -> tuple[HunterState, Sequence[Action]]:
        return decide(state, snapshot, self.config)

    def idle_reason(self, state: HunterState) -> str | None:
        """Say, with its numbers, what kept the hunter from placing an entry (None once it has)."""
        return idle_reason(state, self.config)
