"""The hunter's Strategy adapter: open interest from the marks, and its idle reason."""

from __future__ import annotations

from decimal import Decimal as D

from agents.base import AccountView, MarketView
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.strategy import LiquidationHunterStrategy
from core.events import MarkEvent, TopOfBook

PERP = ("bybit", "BTC/USDT:USDT")


def strategy() -> LiquidationHunterStrategy:
    return LiquidationHunterStrategy(
        LiquidationHunterConfig(
            agent_id="lh",
            venue=PERP[0],
            symbol=PERP[1],
            price_tick=D("0.1"),
            amount_step=D("0.001"),
            order_size=D("0.01"),
            max_position=D("0.05"),
        )
    )


def test_snapshot_when_a_mark_carries_open_interest_then_the_hunter_sees_it() -> None:
    hunter = strategy()
    mark = MarkEvent(7, *PERP, D("17000"), open_interest=D("50000.5"))
    assert hunter.wants(mark)
    market = MarketView()
    market.apply([TopOfBook(5, *PERP, D(17_000), D(2), D("17000.5"), D(3)), mark])
    snap = hunter.snapshot(market, AccountView(), 8)
    assert (snap.open_interest, snap.open_interest_ts_ns) == (D("50000.5"), 7)


def test_idle_reason_when_nothing_happened_then_no_liquidation_seen() -> None:
    hunter = strategy()
    reason = hunter.idle_reason(hunter.initial_state())
    assert reason == "no liquidation of BTC/USDT:USDT on bybit seen in any 5-min window"
