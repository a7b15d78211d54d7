"""LiveFeed's ``liquidations`` channel, offline, through the real ccxt.pro classes.

Only the socket is replaced: each real ccxt.pro exchange builds its subscription, its
real ``handle_message`` dispatches the venue's documented message (fixture
``tests/fixtures/liquidations/documented_messages.json``, copied from the venues'
documentation, says where from), ccxt parses it, and the feed turns it into events.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import ccxt.pro
import pytest

from core.clock import NS_PER_MS, SimulatedClock
from core.errors import ExchangeProtocolError
from core.events import Liquidation, MarketEvent
from exchanges.feeds.liquidations import (
    binance_force_order,
    bybit_all_liquidation,
    ccxt_liquidation_events,
)
from exchanges.feeds.live import LiveFeed, LiveFeedConfig
from exchanges.feeds.recorder import record
from exchanges.feeds.replay import ReplayFeed
from tests.unit.exchanges.feeds.live_support import (
    START_NS,
    collect,
    refuse_network,
    scaffold_market,
)

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "liquidations"
MESSAGES: dict[str, Any] = json.loads((FIXTURE / "documented_messages.json").read_text())


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_network(monkeypatch)


def offline_pro(venue: str, markets: dict[str, str], messages: list[Any]) -> tuple[Any, list[Any]]:
    """Return the real ccxt.pro ``venue`` whose websocket delivers ``messages`` once subscribed.

    The real client object is kept; its ``connect`` resolves at once and its ``send``
    records the subscription, then hands each message to the exchange's own
    ``handle_message`` (what the socket's reader would do).
    """
    exchange = getattr(ccxt.pro, venue)({"enableRateLimit": False})
    scaffolds = []
    for symbol, market_id in markets.items():
        market = scaffold_market(symbol, market_id)
        market["lowercaseId"] = market_id.lower()
        scaffolds.append(market)
    exchange.set_markets(scaffolds)
    sent: list[Any] = []
    real_client = exchange.client

    def client(url: str) -> Any:
        ws = real_client(url)
        if not getattr(ws, "offline", False):
            ws.offline = True

            def connect(session: Any, backoff_delay: float = 0) -> Any:
                if not ws.connected.done():
                    ws.connected.resolve(url)
                return ws.connected

            async def send(message: Any) -> None:
                sent.append(message)
                loop = asyncio.get_running_loop()
                while messages:
                    loop.call_soon(exchange.handle_message, ws, messages.pop(0))

            ws.connect, ws.send = connect, send
        return ws

    exchange.client = client
    return exchange, sent


async def _liquidations(
    venue: str, symbol: str, market_id: str, messages: list[Any], count: int
) -> tuple[list[MarketEvent], list[Any]]:
    exchange, sent = offline_pro(venue, {symbol: market_id}, messages)
    feed = LiveFeed(
        [(venue, symbol)],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("liquidations",)),
        exchange_factory=lambda name: exchange,
    )
    events = await asyncio.wait_for(collect(feed, lambda got: len(got) >= count), 5)
    return events, sent


@pytest.mark.asyncio
async def test_liquidations_when_binance_pushes_its_documented_force_order_then_one_sell() -> None:
    events, sent = await _liquidations(
        "binance", "BTC/USDT:USDT", "BTCUSDT", [MESSAGES["binance_usdm"]], 1
    )
    assert sent == [{"method": "SUBSCRIBE", "params": ["btcusdt@forceOrder"], "id": 1}]
    ts = 1568014460893 * NS_PER_MS
    assert events == [
        Liquidation(ts, "binance", "BTC/USDT:USDT", "sell", D("9910"), D("0.014"), "recorded")
    ]


@pytest.mark.asyncio
async def test_liquidations_when_bybit_says_sell_position_then_the_forced_order_is_a_buy() -> None:
    # Bybit's S is the liquidated position's side; ccxt 4.5 passes it on as the side.
    events, sent = await _liquidations(
        "bybit", "ROSE/USDT:USDT", "ROSEUSDT", [MESSAGES["bybit_all_liquidation"]], 1
    )
    assert sent[0]["args"] == ["allLiquidation.ROSEUSDT"]
    ts = 1739502302929 * NS_PER_MS
    assert events == [
        Liquidation(ts, "bybit", "ROSE/USDT:USDT", "buy", D("0.04499"), D("20000"), "recorded")
    ]


@pytest.mark.asyncio
async def test_liquidations_when_okx_pushes_two_details_then_both_become_events() -> None:
    message = json.loads(json.dumps(MESSAGES["okx_liquidation_orders"]))
    extra = dict(message["data"][0]["details"][0], side="sell", posSide="long", sz="7")
    message["data"][0]["details"].append(extra)  # ccxt 4.5 parses details[0] only
    events, sent = await _liquidations("okx", "IOST/USDT:USDT", "IOST-USDT-SWAP", [message], 2)
    assert sent[0]["args"] == [{"channel": "liquidation-orders", "instType": "SWAP"}]
    ts = 1692266434010 * NS_PER_MS
    symbol = "IOST/USDT:USDT"
    assert events == [
        Liquidation(ts, "okx", symbol, "buy", D("0.007831"), D("13"), "recorded"),
        Liquidation(ts, "okx", symbol, "sell", D("0.007831"), D("7"), "recorded"),
    ]


@pytest.mark.asyncio
async def test_liquidations_when_the_same_message_arrives_twice_then_one_event() -> None:
    first, again = MESSAGES["binance_usdm"], MESSAGES["binance_usdm"]
    other = MESSAGES["binance_usdm_ccxt"]
    events, _ = await _liquidations("binance", "BTC/USDT:USDT", "BTCUSDT", [first, again, other], 2)
    assert [e.side for e in events if isinstance(e, Liquidation)] == ["sell", "buy"]


@pytest.mark.asyncio
async def test_liquidations_when_market_is_spot_then_channel_not_opened() -> None:
    exchange, sent = offline_pro("binance", {"BTC/USDT": "BTCUSDT"}, [])
    feed = LiveFeed(
        [("binance", "BTC/USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("liquidations",)),
        exchange_factory=lambda name: exchange,
    )
    with pytest.raises(Exception, match="no channel"):
        await asyncio.wait_for(collect(feed, lambda got: True), 5)
    assert sent == []


def test_binance_force_order_when_nothing_filled_then_no_event() -> None:
    order = dict(MESSAGES["binance_usdm"]["o"], z="0", l="0", X="EXPIRED")
    assert binance_force_order("binance", "BTC/USDT:USDT", order, now_ns=1) is None


def test_bybit_item_when_side_is_not_buy_or_sell_then_protocol_error_names_it() -> None:
    item = dict(MESSAGES["bybit_all_liquidation"]["data"][0], S="Long")
    with pytest.raises(ExchangeProtocolError, match="'Long'"):
        bybit_all_liquidation("bybit", "ROSE/USDT:USDT", item, now_ns=1)


def test_ccxt_events_when_an_entry_is_another_markets_then_skipped() -> None:
    entry = {"symbol": "ETH/USDT:USDT", "side": "sell", "price": 1.0, "contracts": 1.0}
    assert ccxt_liquidation_events("hyperliquid", "BTC/USDT:USDT", [entry], now_ns=1) == []


def test_ccxt_events_when_price_is_not_a_number_then_protocol_error() -> None:
    entry = {"symbol": "BTC/USDT:USDT", "side": "sell", "price": "x", "contracts": 1.0}
    with pytest.raises(ExchangeProtocolError, match="price"):
        ccxt_liquidation_events("hyperliquid", "BTC/USDT:USDT", [entry], now_ns=1)


@pytest.mark.asyncio
async def test_record_when_live_feed_has_liquidations_then_the_replay_gives_them_back(
    tmp_path: Path,
) -> None:
    messages = [MESSAGES["binance_usdm"], MESSAGES["binance_usdm_ccxt"]]
    exchange, _ = offline_pro("binance", {"BTC/USDT:USDT": "BTCUSDT"}, messages)
    feed = LiveFeed(
        [("binance", "BTC/USDT:USDT")],
        clock=SimulatedClock(START_NS),
        config=LiveFeedConfig(channels=("liquidations",)),
        exchange_factory=lambda name: exchange,
    )
    result = await record(
        feed, tmp_path, duration_s=None, max_events=2, clock=SimulatedClock(START_NS)
    )
    replayed = list(ReplayFeed(tmp_path))
    assert result.events == 2
    assert [(e.side, e.price, e.amount, e.source) for e in replayed] == [
        ("sell", D("9910"), D("0.014"), "recorded"),
        ("buy", D("34959.70"), D("1.437"), "recorded"),
    ]
