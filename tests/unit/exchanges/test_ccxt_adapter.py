"""CcxtExchange against ccxt's REAL binance, bybit, okx and hyperliquid classes, offline.

Only ccxt's ``fetch`` is stubbed (``ccxt_stub.StubTransport``); every answer is a
recorded venue response (``tests/fixtures/ccxt``, ``data/bybit-v5-2026-08-09``) or a
labelled scaffolding answer. No test may open a socket: ``no_network`` refuses any
connection or name lookup that is not loopback.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import traceback
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors as ccxt_errors
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from core import errors as core
from core.models import Market, OrderRequest, OrderStatus, Side
from exchanges.ccxt_adapter import CcxtExchange
from exchanges.ccxt_errors import RetryPolicy
from exchanges.ccxt_parse import client_order_id_from_cloid, hyperliquid_cloid, parse_market
from exchanges.port import Exchange
from tests.unit.exchanges.ccxt_stub import (
    FAKE_KEYS,
    FIXTURES,
    StubTransport,
    action_type,
    assert_matches,
    bybit_order_list,
    case_id,
    echoed_create_answer,
    fake_credentials,
    fixture_entry,
    load_fixture,
    port_args,
    recorded_order_answer,
    route_for,
    scaffold_markets,
    side_routes,
)

REPLAY = json.loads((FIXTURES / "replay_cases.json").read_text(encoding="utf-8"))
PORT_METHODS = {
    "createOrder", "fetchOrder", "fetchOpenOrders", "cancelOrder", "fetchMyTrades", "fetchPositions",
    "fetchBalance", "fetchFundingRate", "fetchFundingRates", "fetchOrderBook", "fetchTicker",
}  # fmt: skip


# -- HARNESS -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection and name lookup that is not loopback."""
    loopback = {"127.0.0.1", "::1", "localhost"}
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in loopback:
            raise AssertionError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in loopback:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)


@pytest.fixture
def stub() -> Iterator[StubTransport]:
    transport = StubTransport()
    yield transport
    assert transport.unexpected == [], f"unrouted requests: {transport.unexpected}"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_exchange(
    venue: str,
    stub: StubTransport,
    *,
    keys: bool = True,
    ccxt_options: dict[str, Any] | None = None,
    sleeps: Sleeps | None = None,
) -> CcxtExchange:
    """Build the adapter over ccxt's real class for ``venue`` with the stub as its transport."""

    def factory(ccxt_id: str, config: dict[str, Any]) -> Any:
        assert config["enableRateLimit"] is True and config["verbose"] is False
        client = getattr(ccxt_async, ccxt_id)(config)
        # the stub answers at once: ccxt's throttle and close() pauses would only slow the suite
        client.enableRateLimit = False
        client.timeout_on_exit = 0
        stub.install(client)
        if venue != "bybit":
            scaffold_markets(client, venue)  # TEST SCAFFOLDING markets; Bybit loads real ones
        return client

    side_routes(venue, stub)
    options = {**(load_fixture(venue).get("options") or {}), **(ccxt_options or {})}
    return CcxtExchange(
        venue,
        fake_credentials(venue) if keys else None,
        retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=4.0),
        sleep=sleeps or Sleeps(),
        ccxt_options=options,
        client_factory=factory,
    )


def request(venue_cid: str = "swarm1", **overrides: Any) -> OrderRequest:
    fields: dict[str, Any] = {
        "client_order_id": venue_cid, "symbol": "BTC/USDT", "side": "buy", "type": "limit",
        "amount": Decimal("0.01"), "price": Decimal("30000"),
    }  # fmt: skip
    fields.update(overrides)
    return OrderRequest(**fields)


# -- REPLAY OF ccxt's RECORDED RESPONSES ----------------------------------------


def test_replay_cases_when_listed_then_every_enabled_port_entry_is_replayed_or_explained() -> None:
    listed = {
        (c["venue"], c["method"], c["description"], c.get("index", 0)) for c in REPLAY["cases"]
    }
    explained = REPLAY["not_replayed"]
    for venue in ("binance", "bybit", "okx", "hyperliquid"):
        for method, entries in load_fixture(venue)["methods"].items():
            if method not in PORT_METHODS:
                continue
            seen: dict[str, int] = {}
            for entry in entries:
                index = seen.get(entry["description"], 0)
                seen[entry["description"]] = index + 1
                key = (venue, method, entry["description"], index)
                why = [
                    e for e in explained
                    if (e["venue"], e["method"]) == (venue, method)
                    and e["description"] in ("*", entry["description"])
                    and e.get("index", index) == index
                ]  # fmt: skip
                if entry.get("disabled"):
                    assert why, f"disabled entry {key} must be listed in not_replayed"
                    continue
                assert (key in listed) != bool(why), f"{key}: replay it or explain why not"


@pytest.mark.asyncio
@pytest.mark.parametrize("case", REPLAY["cases"], ids=case_id)
async def test_replay_when_recorded_answer_then_core_model_matches_ccxt_parsed_response(
    case: dict[str, Any], stub: StubTransport
) -> None:
    entry = fixture_entry(case["venue"], case["method"], case["description"], case.get("index", 0))
    body = copy.deepcopy(entry["httpResponse"])
    if "echo_client_id" in case:
        body[case["echo_client_id"]] = case["call"]["args"]["client_order_id"]
    route_for(case, stub, body)
    exchange = make_exchange(
        case["venue"], stub, keys=not case.get("public"), ccxt_options=case.get("ccxt_options")
    )
    result = await getattr(exchange, case["call"]["name"])(**port_args(case))
    assert_matches(case, result, entry["parsedResponse"])
    assert stub.to(case["route"]["path"]), "the recorded endpoint was never asked"
    await exchange.close()


# -- CLIENT ORDER IDS -------------------------------------------------------------

SYMBOLS = {
    "binance": "BTC/USDT",
    "bybit": "BTC/USDT",
    "okx": "BTC/USDT:USDT",
    "hyperliquid": "BTC/USDC:USDC",
}


def sent_client_id(venue: str, sent: Any) -> Any:
    """Return the client order id field of a create request as each venue's API names it."""
    if venue == "binance":
        return sent.params()["newClientOrderId"]
    if venue == "bybit":
        return sent.json["orderLinkId"]
    if venue == "okx":
        return sent.json[0]["clOrdId"]  # ccxt places OKX orders through batch-orders
    return sent.json["action"]["orders"][0]["c"]


def create_request(venue: str, **overrides: Any) -> OrderRequest:
    symbol = SYMBOLS[venue]
    fields: dict[str, Any] = {"symbol": symbol, "amount": Decimal("1"), "price": Decimal("25")}
    fields.update(overrides)
    return request("swarm1", **fields)


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "hyperliquid"])
async def test_create_order_when_sent_then_request_carries_our_client_order_id(
    venue: str, stub: StubTransport
) -> None:
    method, path, answer = echoed_create_answer(venue, "swarm1")
    stub.on(method, path, answer, match=action_type("order") if venue == "hyperliquid" else None)
    exchange = make_exchange(venue, stub)
    order = await exchange.create_order(create_request(venue))
    (sent,) = [s for s in stub.to(path) if venue != "hyperliquid" or action_type("order")(s)]
    expected = hyperliquid_cloid("swarm1") if venue == "hyperliquid" else "swarm1"
    assert sent_client_id(venue, sent) == expected
    assert order.client_order_id == "swarm1"
    await exchange.close()


FETCH_BY_CLIENT_ID = {  # venue -> (method, path, the venue's name for the client order id)
    "binance": ("GET", "/api/v3/order", "origClientOrderId"),
    "okx": ("GET", "/api/v5/trade/order", "clOrdId"),
    "hyperliquid": ("POST", "/info", "oid"),
}
FETCH_SYMBOL = {"binance": "LTC/USDT", "okx": "LTC/USDT", "hyperliquid": "PURR/USDC"}


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", sorted(FETCH_BY_CLIENT_ID))
async def test_fetch_order_when_by_client_order_id_then_request_names_it(
    venue: str, stub: StubTransport
) -> None:
    method, path, key = FETCH_BY_CLIENT_ID[venue]
    sent_id = hyperliquid_cloid("swarm1") if venue == "hyperliquid" else "swarm1"
    match = action_type("orderStatus") if venue == "hyperliquid" else None
    stub.on(method, path, recorded_order_answer(venue, sent_id), match=match)
    exchange = make_exchange(venue, stub)
    order = await exchange.fetch_order(FETCH_SYMBOL[venue], client_order_id="swarm1")
    (sent,) = stub.to(path)
    assert sent.params()[key] == sent_id
    assert "orderId" not in sent.params() and "ordId" not in sent.params()
    assert order.client_order_id == "swarm1"
    await exchange.close()


EMPTY_BYBIT_LIST = bybit_order_list("", "")


@pytest.mark.asyncio
async def test_fetch_order_when_bybit_order_closed_then_found_in_history_by_order_link_id(
    stub: StubTransport,
) -> None:
    stub.on("GET", "/v5/order/realtime", EMPTY_BYBIT_LIST)
    stub.on("GET", "/v5/order/history", bybit_order_list("Cancelled", "swarm1"))
    exchange = make_exchange("bybit", stub)
    order = await exchange.fetch_order("BTC/USDT", client_order_id="swarm1")
    assert (order.status, order.client_order_id) == (OrderStatus.CANCELED, "swarm1")
    for path in ("/v5/order/realtime", "/v5/order/history"):
        (sent,) = stub.to(path)
        assert sent.query["orderLinkId"] == "swarm1" and "orderId" not in sent.query
    await exchange.close()


@pytest.mark.asyncio
async def test_fetch_order_when_bybit_knows_nothing_then_order_not_found(
    stub: StubTransport,
) -> None:
    stub.on("GET", "/v5/order/realtime", EMPTY_BYBIT_LIST)
    stub.on("GET", "/v5/order/history", EMPTY_BYBIT_LIST)
    exchange = make_exchange("bybit", stub)
    with pytest.raises(core.OrderNotFound):
        await exchange.fetch_order("BTC/USDT", client_order_id="swarm1")
    await exchange.close()


@pytest.mark.asyncio
async def test_create_order_when_venue_echoes_another_client_id_then_protocol_error(
    stub: StubTransport,
) -> None:
    recorded = fixture_entry("binance", "createOrder", "spot +selfTradePrevention +iceberg")
    stub.on("POST", "/api/v3/order", recorded["httpResponse"])  # echoes ccxt's own x-… id
    exchange = make_exchange("binance", stub)
    with pytest.raises(core.ExchangeProtocolError, match="x-R4BD3S824d31be3228a348eaa0a303"):
        await exchange.create_order(
            request("swarm1", symbol="SOL/USDT", amount=Decimal("0.05"), price=Decimal("241"))
        )
    await exchange.close()


def test_hyperliquid_cloid_when_short_id_then_reads_back_without_state() -> None:
    cloid = hyperliquid_cloid("swarm1")
    assert cloid.startswith("0x") and len(cloid) == 34
    assert client_order_id_from_cloid(cloid, {}) == "swarm1"


def test_hyperliquid_cloid_when_long_id_then_hashed_and_mapped_back_from_memory() -> None:
    long_id = "a" * 32
    cloid = hyperliquid_cloid(long_id)
    assert len(cloid) == 34 and cloid == hyperliquid_cloid(long_id)
    assert client_order_id_from_cloid(cloid, {}) == cloid  # unknown: left as the venue's
    assert client_order_id_from_cloid(cloid, {cloid: long_id}) == long_id


# -- ORDER PARAMETERS --------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"time_in_force": "IOC"}, {"type": "LIMIT", "timeInForce": "IOC"}),
        ({"time_in_force": "FOK"}, {"type": "LIMIT", "timeInForce": "FOK"}),
        ({"post_only": True}, {"type": "LIMIT_MAKER"}),
        ({"type": "market", "price": None}, {"type": "MARKET"}),
    ],
)
async def test_create_order_when_binance_options_then_mapped_to_venue_params(
    overrides: dict[str, Any], expected: dict[str, str], stub: StubTransport
) -> None:
    stub.on("POST", "/api/v3/order", echoed_create_answer("binance", "swarm1")[2])
    exchange = make_exchange("binance", stub)
    await exchange.create_order(request("swarm1", **overrides))
    (sent,) = stub.to("/api/v3/order")
    form = sent.params()
    assert {k: form.get(k) for k in expected} == expected
    if "timeInForce" not in expected and expected["type"] != "LIMIT_MAKER":
        assert "timeInForce" not in form
    await exchange.close()


@pytest.mark.asyncio
async def test_create_order_when_bybit_reduce_only_then_sent(stub: StubTransport) -> None:
    stub.on("POST", "/v5/order/create", echoed_create_answer("bybit", "swarm1")[2])
    exchange = make_exchange("bybit", stub)
    await exchange.create_order(
        request("swarm1", symbol="BTC/USDT:USDT", reduce_only=True, side="sell")
    )
    (sent,) = stub.to("/v5/order/create")
    assert sent.json["reduceOnly"] is True and sent.json["category"] == "linear"
    await exchange.close()


@pytest.mark.asyncio
async def test_create_order_when_hyperliquid_fill_or_kill_then_refused_before_sending(
    stub: StubTransport,
) -> None:
    exchange = make_exchange("hyperliquid", stub)
    with pytest.raises(core.NotSupported):
        await exchange.create_order(create_request("hyperliquid", time_in_force="FOK"))
    assert stub.sent == []
    await exchange.close()


# -- TIMEOUTS, RETRIES, UNKNOWN OUTCOMES -----------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "hyperliquid"])
async def test_create_order_when_timeout_then_outcome_unknown_and_not_resent(
    venue: str, stub: StubTransport
) -> None:
    method, path, _ = echoed_create_answer(venue, "swarm1")
    match = action_type("order") if venue == "hyperliquid" else None
    stub.on(
        method,
        path,
        raises=ccxt_errors.RequestTimeout(f"{venue} {method} {path} timed out"),
        match=match,
    )
    sleeps = Sleeps()
    exchange = make_exchange(venue, stub, sleeps=sleeps)
    with pytest.raises(core.RequestTimeout) as caught:
        await exchange.create_order(create_request(venue))
    assert isinstance(caught.value, core.OutcomeUnknownError)
    assert caught.value.client_order_id == "swarm1"
    assert len([s for s in stub.to(path) if match is None or match(s)]) == 1
    assert sleeps.calls == []
    await exchange.close()


@pytest.mark.asyncio
async def test_create_order_when_venue_5xx_then_outcome_unknown_and_not_resent(
    stub: StubTransport,
) -> None:
    stub.on("POST", "/api/v3/order", "<html>502 Bad Gateway</html>", status=502)
    exchange = make_exchange("binance", stub)
    with pytest.raises(core.OutcomeUnknownError) as caught:
        await exchange.create_order(request())
    assert caught.value.client_order_id == "swarm1"
    assert len(stub.to("/api/v3/order")) == 1
    await exchange.close()


@pytest.mark.asyncio
async def test_create_order_when_rate_limited_then_retried_with_backoff(
    stub: StubTransport,
) -> None:
    stub.on(
        "POST", "/api/v3/order", {"code": -1003, "msg": "Too many requests."}, status=429, times=1
    )
    stub.on("POST", "/api/v3/order", echoed_create_answer("binance", "swarm1")[2])
    sleeps = Sleeps()
    exchange = make_exchange("binance", stub, sleeps=sleeps)
    order = await exchange.create_order(request())
    assert order.client_order_id == "swarm1"
    assert len(stub.to("/api/v3/order")) == 2 and sleeps.calls == [0.5]
    await exchange.close()


@pytest.mark.asyncio
async def test_fetch_ticker_when_read_times_out_then_retried_and_answered(
    stub: StubTransport,
) -> None:
    stub.on("GET", "/api/v3/ticker/24hr", raises=ccxt_errors.RequestTimeout("slow"), times=2)
    stub.on(
        "GET",
        "/api/v3/ticker/24hr",
        fixture_entry("binance", "fetchTicker", "public spot ticker")["httpResponse"],
    )
    sleeps = Sleeps()
    exchange = make_exchange("binance", stub, keys=False, sleeps=sleeps)
    ticker = await exchange.fetch_ticker("BTC/USDT")
    assert ticker.symbol == "BTC/USDT" and ticker.bid is not None
    assert len(stub.to("/api/v3/ticker/24hr")) == 3 and sleeps.calls == [0.5, 1.0]
    await exchange.close()


@pytest.mark.asyncio
async def test_fetch_ticker_when_timeouts_persist_then_retryable_error_after_bounded_attempts(
    stub: StubTransport,
) -> None:
    stub.on("GET", "/api/v3/ticker/24hr", raises=ccxt_errors.RequestTimeout("slow"))
    exchange = make_exchange("binance", stub, keys=False)
    with pytest.raises(core.ExchangeUnavailable):
        await exchange.fetch_ticker("BTC/USDT")
    assert len(stub.to("/api/v3/ticker/24hr")) == 3
    await exchange.close()


@pytest.mark.asyncio
async def test_fetch_order_when_status_unknown_then_outcome_unknown_not_failure(
    stub: StubTransport,
) -> None:
    answer = {**recorded_order_answer("binance", "swarm1"), "status": "SOMETHING_NEW"}
    stub.on("GET", "/api/v3/order", answer)
    exchange = make_exchange("binance", stub)
    with pytest.raises(core.OutcomeUnknownError) as caught:
        await exchange.fetch_order("LTC/USDT", client_order_id="swarm1")
    assert caught.value.client_order_id == "swarm1"
    await exchange.close()


@pytest.mark.asyncio
async def test_fetch_order_when_venue_says_unknown_order_then_order_not_found(
    stub: StubTransport,
) -> None:
    stub.on("GET", "/api/v3/order", {"code": -2013, "msg": "Order does not exist."}, status=400)
    exchange = make_exchange("binance", stub)
    with pytest.raises(core.OrderNotFound):
        await exchange.fetch_order("LTC/USDT", client_order_id="swarm1")
    assert len(stub.to("/api/v3/order")) == 1
    await exchange.close()


# -- CANCEL -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancel_order_when_binance_by_client_id_then_canceled_order_returned(
    stub: StubTransport,
) -> None:
    answer = {
        **recorded_order_answer("binance", "swarm1"),
        "status": "CANCELED",
        "executedQty": "0",
        "cummulativeQuoteQty": "0",
    }
    stub.on("DELETE", "/api/v3/order", answer)
    exchange = make_exchange("binance", stub)
    order = await exchange.cancel_order("LTC/USDT", client_order_id="swarm1")
    assert (order.status, order.client_order_id) == (OrderStatus.CANCELED, "swarm1")
    (sent,) = stub.to("/api/v3/order")
    assert sent.params()["origClientOrderId"] == "swarm1"
    await exchange.close()


@pytest.mark.asyncio
async def test_cancel_order_when_bybit_acknowledges_only_ids_then_state_read_back(
    stub: StubTransport,
) -> None:
    stub.on(
        "POST",
        "/v5/order/cancel",
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"orderId": "1609920528435648000", "orderLinkId": "swarm1"},
        },
    )
    stub.on("GET", "/v5/order/realtime", EMPTY_BYBIT_LIST)
    stub.on("GET", "/v5/order/history", bybit_order_list("Cancelled", "swarm1"))
    exchange = make_exchange("bybit", stub)
    order = await exchange.cancel_order("BTC/USDT", client_order_id="swarm1")
    assert order.status is OrderStatus.CANCELED and order.side is Side.BUY
    (sent,) = stub.to("/v5/order/cancel")
    assert sent.json["orderLinkId"] == "swarm1" and "orderId" not in sent.json
    await exchange.close()


@pytest.mark.asyncio
async def test_cancel_order_when_timeout_then_outcome_unknown_and_not_resent(
    stub: StubTransport,
) -> None:
    stub.on(
        "POST", "/api/v5/trade/cancel-order", raises=ccxt_errors.RequestTimeout("okx timed out")
    )
    exchange = make_exchange("okx", stub)
    with pytest.raises(core.RequestTimeout) as caught:
        await exchange.cancel_order("BTC/USDT:USDT", client_order_id="swarm1")
    assert caught.value.client_order_id == "swarm1"
    assert len(stub.to("/api/v5/trade/cancel-order")) == 1
    await exchange.close()


@pytest.mark.asyncio
async def test_cancel_order_when_neither_id_nor_client_id_then_refused(stub: StubTransport) -> None:
    exchange = make_exchange("okx", stub)
    with pytest.raises(core.InvalidValue):
        await exchange.cancel_order("BTC/USDT:USDT")
    assert stub.sent == []
    await exchange.close()


# -- CREDENTIALS AND PUBLIC MODE -----------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("venue", ["binance", "bybit", "okx"])
async def test_credentials_when_requests_logged_and_errors_raised_then_never_shown(
    venue: str, stub: StubTransport, caplog: pytest.LogCaptureFixture
) -> None:
    key, secret, password = FAKE_KEYS[venue]
    # the venue rejects the key and echoes it back, as some venues do
    answers = {
        "binance": ("GET", "/api/v3/account", {"code": -2015, "msg": f"Invalid API-key {key}, IP, or permissions."}, 401),
        "bybit": ("GET", "/v5/account/wallet-balance", {"retCode": 10003, "retMsg": f"API key {key} is invalid."}, 401),
        "okx": ("GET", "/api/v5/account/balance", {"code": "50111", "msg": f"Invalid OK-ACCESS-KEY {key}", "data": []}, 401),
    }  # fmt: skip
    method, path, body, status = answers[venue]
    stub.on(method, path, body, status=status)
    caplog.set_level(logging.DEBUG, logger="swarm.exchanges.ccxt")
    exchange = make_exchange(venue, stub)
    with pytest.raises(core.AuthenticationFailed) as caught:
        await exchange.fetch_balance()
    (sent,) = stub.to(path)
    assert key in json.dumps(sent.headers), (
        "the request must carry the key for this test to mean anything"
    )
    assert "Request:" in caplog.text, "ccxt's debug line about the request must have been logged"
    chain = "".join(traceback.format_exception(caught.value))
    shown = [
        repr(exchange),
        str(exchange),
        str(caught.value),
        repr(caught.value),
        chain,
        caplog.text,
    ]
    for text in shown:
        for value in (key, secret, password):
            assert value is None or value not in text
    await exchange.close()


def test_repr_when_hyperliquid_keys_then_no_secret() -> None:
    exchange = CcxtExchange("hyperliquid", fake_credentials("hyperliquid"))
    assert FAKE_KEYS["hyperliquid"][1] not in repr(exchange)
    assert repr(exchange) == "CcxtExchange(venue='hyperliquid', authenticated)"


@pytest.mark.asyncio
async def test_public_mode_when_market_data_then_works_without_keys(stub: StubTransport) -> None:
    stub.on(
        "GET",
        "/api/v3/depth",
        fixture_entry("binance", "fetchOrderBook", "spot orderbook")["httpResponse"],
    )
    exchange = make_exchange("binance", stub, keys=False)
    assert isinstance(exchange, Exchange)
    book = await exchange.fetch_order_book("BTC/USDT", 2)
    assert book.best_bid is not None and book.best_ask is not None and book.best_bid < book.best_ask
    assert not any("X-MBX-APIKEY" in s.headers for s in stub.sent)
    await exchange.close()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "operation", ["fetch_balance", "fetch_open_orders", "fetch_positions", "create_order"]
)
async def test_public_mode_when_private_call_then_authentication_failed_without_sending(
    operation: str, stub: StubTransport
) -> None:
    exchange = make_exchange("okx", stub, keys=False)
    args = (request(symbol="BTC/USDT:USDT"),) if operation == "create_order" else ()
    with pytest.raises(core.AuthenticationFailed):
        await getattr(exchange, operation)(*args)
    assert stub.sent == []
    await exchange.close()


# -- MARKETS ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_load_markets_when_bybit_recorded_instruments_then_real_trading_rules(
    stub: StubTransport,
) -> None:
    exchange = make_exchange("bybit", stub, keys=False)
    markets = await exchange.load_markets()
    perp, spot = markets["BTC/USDT:USDT"], markets["BTC/USDT"]
    assert (
        isinstance(perp, Market) and perp.id == "BTCUSDT" and perp.linear and perp.settle == "USDT"
    )
    # values from the recorded instruments-info answer (priceFilter, lotSizeFilter)
    assert (perp.price_tick, perp.amount_step, perp.min_amount) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
    )
    assert perp.max_amount == Decimal("1500") and perp.min_cost == Decimal("5")
    assert (spot.price_tick, spot.amount_step, spot.type.value) == (
        Decimal("0.1"),
        Decimal("0.000001"),
        "spot",
    )
    assert len(markets) > 1000
    assert stub.to("/v5/market/instruments-info")
    await exchange.close()


@pytest.mark.asyncio
async def test_fetch_ticker_when_symbol_unknown_then_unknown_symbol(stub: StubTransport) -> None:
    exchange = make_exchange("binance", stub, keys=False)
    with pytest.raises(core.UnknownSymbol) as caught:
        await exchange.fetch_ticker("NOPE/USDT")
    assert caught.value.value == "NOPE/USDT"
    await exchange.close()


@pytest.mark.asyncio
async def test_stub_when_unexpected_url_then_refused_and_recorded() -> None:
    transport = StubTransport()
    exchange = make_exchange("binance", transport, keys=False)
    with pytest.raises(core.SwarmError):
        await exchange.fetch_ticker("BTC/USDT")
    assert [s.path for s in transport.unexpected] == ["/api/v3/ticker/24hr"]
    await exchange.close()


@pytest.mark.parametrize(
    ("mode", "precision", "tick"), [(TICK_SIZE, 0.01, "0.01"), (DECIMAL_PLACES, 2, "0.01")]
)
def test_parse_market_when_ccxt_precision_mode_then_tick_is_exact(
    mode: int, precision: float, tick: str
) -> None:
    raw = {
        "symbol": "BTC/USDT", "id": "BTCUSDT", "type": "spot", "base": "BTC", "quote": "USDT",
        "precision": {"price": precision, "amount": precision}, "limits": {}, "maker": 0.001, "taker": 0.001,
    }  # fmt: skip
    market = parse_market("binance", raw, mode)
    assert market is not None and market.price_tick == Decimal(tick) == market.amount_step
