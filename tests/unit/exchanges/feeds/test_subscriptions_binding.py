"""Agents bound to the markets a replay data set holds, or refused naming both sides."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.config import AgentSpec, SwarmConfig, load_config
from core.errors import InvalidValue
from exchanges.feeds.replay import ReplayFeed
from exchanges.feeds.subscriptions import bind_agents, bind_to_data

ROOT = Path(__file__).resolve().parents[4]
BINANCE_USDM = ROOT / "data" / "binance-2024-08-08" / "hftbacktest" / "usdm"
VENUES = ["binance", "bybit", "okx", "hyperliquid"]


def _paper_agents() -> dict[str, Any]:
    config = load_config(ROOT / "configs" / "paper.toml", SwarmConfig)
    return {k: v for k, v in config.agents.items() if v.enabled}


def _mm(**changes: Any) -> AgentSpec:
    agents = _paper_agents()
    return agents["mm"].model_copy(update={"config": {**agents["mm"].config, **changes}})


def test_bind_when_mm_on_bybit_and_data_is_binance_usdm_then_bound_to_binance_btc() -> None:
    # The case: the default config's mm named Bybit, so on Binance data it made 0
    # decisions and the summary did not say why.
    agents = _paper_agents()
    specs, lines, unserved = bind_agents(agents, ReplayFeed(BINANCE_USDM).files(), VENUES)
    assert unserved == {}
    assert specs["mm"].config["venue"] == "binance"
    assert specs["mm"].config["symbol"] == "BTC/USDT:USDT"
    assert Decimal(specs["mm"].config["price_tick"]) == Decimal("0.1")
    assert specs["liq-hunter"].config["venue"] == "binance"
    assert specs["funding-arb"] is agents["funding-arb"]  # binance BTC perp is one of its markets
    assert lines == [
        "mm: bybit BTC/USDT:USDT -> binance BTC/USDT:USDT (the data holds no bybit BTC/USDT:USDT)",
        "liq-hunter: bybit BTC/USDT:USDT -> binance BTC/USDT:USDT "
        "(the data holds no bybit BTC/USDT:USDT)",
    ]


def test_bind_when_symbols_filter_eth_then_mm_bound_to_eth_with_its_tick() -> None:
    agents = {"mm": _mm()}
    files = ReplayFeed(BINANCE_USDM, symbols=["ETH"]).files()
    specs, lines, _ = bind_agents(agents, files, VENUES)
    assert (specs["mm"].config["venue"], specs["mm"].config["symbol"]) == (
        "binance",
        "ETH/USDT:USDT",
    )
    assert Decimal(specs["mm"].config["price_tick"]) == Decimal("0.01")
    assert len(lines) == 1


def test_bind_when_agent_market_in_data_then_config_unchanged_and_no_binding() -> None:
    agents = _paper_agents()
    files = ReplayFeed(ROOT / "data" / "bybit-btcusdt-2022-12-13").files()
    specs, lines, unserved = bind_agents(agents, files, VENUES)
    assert lines == [] and unserved == {}
    assert specs == agents


def test_bind_when_two_markets_could_stand_in_then_refused_naming_data_and_wants() -> None:
    agents = {"mm": _mm(symbol="SOL/USDT:USDT")}
    held = {("binance", "BTC/USDT:USDT"), ("binance", "ETH/USDT:USDT")}
    with pytest.raises(InvalidValue) as caught:
        bind_to_data(agents, held, VENUES)
    text = str(caught.value)
    assert "--data" in text and "mm wants bybit SOL/USDT:USDT" in text
    assert "the data holds binance BTC/USDT:USDT, binance ETH/USDT:USDT" in text
    assert "--agent" in text


def test_bind_when_data_venue_not_a_paper_venue_then_refused() -> None:
    held = {("binance", "BTC/USDT:USDT")}
    with pytest.raises(InvalidValue, match=r"paper venues: bybit"):
        bind_to_data({"mm": _mm()}, held, ["bybit"])


def test_bind_when_funding_arb_has_none_of_its_markets_then_refused() -> None:
    agents = {"funding-arb": _paper_agents()["funding-arb"]}
    with pytest.raises(InvalidValue, match=r"serves none.*funding-arb wants .*okx SOL/USDT"):
        bind_to_data(agents, {("okx", "SOL/USDT")}, VENUES)


def test_bind_when_only_spot_in_data_then_mm_on_spot_and_hunter_unserved_with_reason() -> None:
    # The Binance spot capture: the mm can quote spot; the hunter needs a perp, so it runs idle
    # and says why (the paper run and its test go on rather than refusing the whole run).
    agents = _paper_agents()
    files = ReplayFeed(ROOT / "data" / "binance-2024-08-08" / "hftbacktest" / "spot").files()
    specs, lines, unserved = bind_agents(agents, files, VENUES)
    assert (specs["mm"].config["venue"], specs["mm"].config["symbol"]) == ("binance", "BTC/USDT")
    assert Decimal(specs["mm"].config["amount_step"]) == Decimal("0.00001")
    assert set(unserved) == {"liq-hunter"}  # the funding arb trades binance BTC/USDT spot too
    assert unserved["liq-hunter"].startswith("no market in the data: wants bybit BTC/USDT:USDT")
    assert "binance BTC/USDT, binance ETH/USDT" in unserved["liq-hunter"]
    assert lines[0].startswith("mm: bybit BTC/USDT:USDT -> binance BTC/USDT")
