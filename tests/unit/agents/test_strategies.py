"""The three strategy adapters: what they decide on, and the snapshots they build from the views."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.base import AccountView, AgentCore, MarketView
from agents.registry import build_strategy
from core.errors import ConfigError
from core.events import Bar, FundingEvent, Liquidation, TopOfBook, TradeTick

D = Decimal
PERP = ("bybit", "BTC/USDT:USDT")
MM = {
    "agent_id": "mm",
    "venue": "bybit",
    "symbol": "BTC/USDT:USDT",
    "gamma": 0.05,
    "sigma": 0.0001,
    "k": 0.1,
    "a": 1.0,
    "order_notional": "200",
    "max_inventory_notional": "2000",
    "price_tick": "0.1",
    "amount_step": "0.001",
}
LH = {
    "agent_id": "lh",
    "venue": "bybit",
    "symbol": "BTC/USDT:USDT",
    "price_tick": "0.1",
    "amount_step": "0.001",
    "order_size": "0.01",
    "max_position": "0.05",
}


def top(ts: int, venue: str = "bybit", symbol: str = "BTC/USDT:USDT") -> TopOfBook:
    return TopOfBook(ts, venue, symbol, D("17000.0"), D(2), D("17000.5"), D(3))


def test_market_maker_when_own_market_then_decides_and_quotes_both_sides() -> None:
    strategy = build_strategy("market_maker", MM)
    assert strategy.wants(top(1)) and not strategy.wants(top(1, symbol="ETH/USDT:USDT"))
    assert not strategy.wants(FundingEvent(1, *PERP, D("0.0001"), D(8)))
    core = AgentCore(strategy)
    actions = core.on_events([top(10**18)])
    assert {a.intent.side for a in actions} == {"buy", "sell"}  # type: ignore[union-attr]


def test_liquidation_hunter_when_liquidation_then_decides_and_snapshot_has_it() -> None:
    strategy = build_strategy("liquidation_hunter", LH)
    liq = Liquidation(5, *PERP, "sell", D("16990.0"), D("1.5"), "model")
    assert strategy.wants(liq) and strategy.wants(Bar(5, *PERP, D(1), D(1), D(1), D(1), D(1), 60))
    market = MarketView()
    market.apply([top(1), liq, TradeTick(4, *PERP, D("16995.0"), D(1), "sell")])
    snap = strategy.snapshot(market, AccountView(), 5)
    assert snap.liquidations == (liq,) and snap.best_ask == D("17000.5") and snap.ask_size == D(3)
    assert strategy.snapshot(market, AccountView(), 6).liquidations == ()  # taken once


def test_funding_arb_when_price_of_its_market_or_print_then_decides() -> None:
    strategy = build_strategy("funding_arb", {"agent_id": "fa"})
    assert strategy.wants(FundingEvent(1, "okx", "X/USDT:USDT", D("0.0001"), D(8)))
    assert strategy.wants(top(1, "binance", "BTC/USDT:USDT"))
    assert not strategy.wants(top(1, "binance", "DOGE/USDT:USDT"))
    market = MarketView()
    market.apply(
        [
            top(1, "binance", "BTC/USDT:USDT"),
            FundingEvent(2, "binance", "BTC/USDT:USDT", D("0.0001"), D(8)),
        ]
    )
    account = AccountView(budget=D(1000))
    snap = strategy.snapshot(market, account, 2)
    assert (
        snap.quotes[0].price == D("17000.25") and len(snap.funding) == 1 and snap.budget == D(1000)
    )


def test_build_strategy_when_bad_key_then_config_error_names_it() -> None:
    with pytest.raises(ConfigError) as exc:
        build_strategy("market_maker", {**MM, "gama": 0.1}, "configs/paper.toml [agents.mm.config]")
    assert exc.value.key == "gama" and "unknown key" in str(exc.value)
    with pytest.raises(ValueError, match="no such agent"):
        build_strategy("arbitrage", {})
