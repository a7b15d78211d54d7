from __future__ import annotations

import gzip
import json
from decimal import Decimal
from typing import Any

import pytest

from core.errors import InvalidValue
from core.models import MarketType
from exchanges.paper.rules import VENUE_RULES, ClientIdPolicy, venue_rules
from tests.conftest import DATA
from tests.unit.exchanges.paper.helpers import make_venue

BYBIT_RECORDING = DATA / "bybit-v5-2026-08-09" / "BYBIT.jsonl.gz"


def _bybit_instruments() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with gzip.open(BYBIT_RECORDING, "rt") as handle:
        for line in handle:
            if '"t":"http"' not in line:
                continue
            record = json.loads(line)
            result = json.loads(record["data"])["result"]
            for item in result["list"]:
                if item["symbol"] in ("BTCUSDT", "ETHUSDT"):
                    found[(result["category"], item["symbol"])] = item
    return found


@pytest.mark.parametrize(
    ("name", "symbols"),
    [
        ("binance", {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}),
        ("bybit", {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}),
        ("okx", {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"}),
        ("hyperliquid", {"BTC/USDC:USDC", "ETH/USDC:USDC"}),
    ],
)
def test_load_markets_when_asked_then_core_markets_of_the_venue(
    name: str, symbols: set[str]
) -> None:
    markets = make_venue(name).markets()
    assert set(markets) == symbols
    for symbol, market in markets.items():
        assert market.venue == name and market.symbol == symbol
        if symbol.count(":"):
            assert market.type is MarketType.SWAP and market.linear and market.settle
            assert market.settle == symbol.split(":")[1]
        else:
            assert market.type is MarketType.SPOT and market.settle is None


def test_bybit_rules_when_compared_with_recorded_instruments_info_then_equal() -> None:
    recorded = _bybit_instruments()
    rules = venue_rules("bybit")
    for (category, venue_id), item in recorded.items():
        symbol = f"{venue_id[:3]}/USDT" + (":USDT" if category == "linear" else "")
        market = rules.market(symbol)
        assert market is not None and market.id == venue_id
        lot = item["lotSizeFilter"]
        assert market.price_tick == Decimal(item["priceFilter"]["tickSize"])
        assert market.min_amount == Decimal(lot["minOrderQty"])
        if category == "linear":
            assert market.amount_step == Decimal(lot["qtyStep"])
            assert market.min_cost == Decimal(lot["minNotionalValue"])
            assert market.max_amount == Decimal(lot["maxOrderQty"])
            assert market.max_market_amount == Decimal(lot["maxMktOrderQty"])
            assert market.max_leverage == Decimal(item["leverageFilter"]["maxLeverage"])
            assert market.funding_interval_hours * 60 == item["fundingInterval"]
        else:
            assert market.amount_step == Decimal(lot["basePrecision"])
            assert market.min_cost == Decimal(lot["minOrderAmt"])
            assert market.max_amount == Decimal(lot["maxLimitOrderQty"])
            assert market.max_market_amount == Decimal(lot["maxMarketOrderQty"])
    assert len(recorded) == 4


@pytest.mark.parametrize(
    ("name", "symbol", "maker", "taker"),
    [
        ("binance", "BTC/USDT", "0.001", "0.001"),
        ("binance", "BTC/USDT:USDT", "0.0002", "0.0005"),
        ("bybit", "BTC/USDT", "0.001", "0.001"),
        ("bybit", "ETH/USDT:USDT", "0.0002", "0.00055"),
        ("okx", "ETH/USDT", "0.0008", "0.001"),
        ("okx", "BTC/USDT:USDT", "0.0002", "0.0005"),
        ("hyperliquid", "BTC/USDC:USDC", "0.00015", "0.00045"),
    ],
)
def test_fee_schedule_when_read_then_base_tier_rates(
    name: str, symbol: str, maker: str, taker: str
) -> None:
    market = venue_rules(name).market(symbol)
    assert market is not None
    assert (market.maker_fee, market.taker_fee) == (Decimal(maker), Decimal(taker))


def test_client_id_policies_when_read_then_as_the_venues_behave() -> None:
    policies = {name: rules.client_id_policy for name, rules in VENUE_RULES.items()}
    assert policies == {
        "binance": ClientIdPolicy.REUSE_AFTER_CLOSE,
        "okx": ClientIdPolicy.REUSE_AFTER_CLOSE,
        "bybit": ClientIdPolicy.NEVER_REUSE,
        "hyperliquid": ClientIdPolicy.NEVER_REUSE,
    }


@pytest.mark.parametrize("name", sorted(VENUE_RULES))
def test_every_market_when_checked_then_rules_consistent(name: str) -> None:
    for market in venue_rules(name).markets:
        assert market.min_amount % market.amount_step == 0
        assert market.price_tick > 0 and market.amount_step > 0
        if not market.is_spot:
            assert market.settle is not None
            assert 0 < market.maintenance_margin_rate < 1 / market.max_leverage
        else:
            assert market.maintenance_margin_rate == 0


def test_venue_rules_when_unknown_venue_then_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="venue"):
        venue_rules("kraken")
