"""The live order path: a ``gateway`` actor with ``venue_kind = "ccxt"`` in the shared Ray session.

The actor builds ``CcxtExchange`` itself, from fake ``SWARM_BYBIT_*`` keys in its own
environment (Ray's ``runtime_env``; never an actor argument), over ccxt's REAL bybit class.
Only ccxt's ``fetch`` is replaced (``tests.unit.exchanges.ccxt_stub.StubTransport``): it
answers with ccxt's recorded Bybit responses (``tests/fixtures/ccxt/bybit.json``) and the
recorded v5 instruments (``data/bybit-v5-2026-08-09``), refuses any request it has no
route for, and logs every request to a file the test reads. Nothing leaves the machine.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.unit.exchanges.ccxt_stub import (
    FAKE_KEYS,
    Sent,
    StubTransport,
    fixture_entry,
    side_routes,
)

VENUE = "bybit"
SYMBOL = "BTC/USDT:USDT"
HELD = "LTC/USDT:USDT"  # the recorded account holds 1.2 LTC perp: the gateway must know the market
KEY, SECRET, _ = FAKE_KEYS[VENUE]
ENV = {"SWARM_BYBIT_API_KEY": KEY, "SWARM_BYBIT_SECRET": SECRET}


# -- THE STUBBED NETWORK (runs inside the gateway's Ray worker) ----------------------


class LoggingStub(StubTransport):
    """The stub transport, logging each request to ``log_path`` and echoing our order link id."""

    def __init__(self, log_path: str) -> None:
        super().__init__()
        self._log_path = log_path

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        headers: Any = None,
        body: str | None = None,
    ) -> Any:
        sent = Sent(method, url, dict(headers or {}), body)
        with open(self._log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"method": method, "path": sent.path, "params": sent.params()}))
            handle.write("\n")
        if sent.path.endswith("/v5/order/create"):
            # a venue echoes the link id it was sent; the recording was made with another one
            answer = copy.deepcopy(
                fixture_entry(VENUE, "createOrder", "create spot order")["httpResponse"]
            )
            answer["result"]["orderLinkId"] = sent.params()["orderLinkId"]
            self.on("POST", "/v5/order/create", answer, times=1)
        return await super().fetch(url, method, headers, body)


def bybit_routes(stub: StubTransport) -> None:
    """Answer the gateway's recovery and polling with recorded Bybit responses."""
    side_routes(VENUE, stub)
    recorded = {
        "/v5/account/wallet-balance": ("fetchBalance", "balance after availableToWithdraw update"),
        "/v5/position/list": ("fetchPositions", "Fetch linear position"),
        "/v5/execution/list": ("fetchMyTrades", "swap trades without symbol"),
    }
    for path, (method, description) in recorded.items():
        stub.on("GET", path, fixture_entry(VENUE, method, description)["httpResponse"])
    ticker = fixture_entry(VENUE, "fetchTicker", "swap ticker")["httpResponse"]
    stub.on("GET", "/v5/market/tickers", ticker, query={"symbol": "BTCUSDT"})
    # TEST SCAFFOLDING: the recording has no LTC ticker; the recorded BTC answer, renamed,
    # at the recorded LTC position's mark price (71.1)
    ltc = copy.deepcopy(ticker)
    ltc["result"]["list"][0].update(
        symbol="LTCUSDT", lastPrice="71.1", markPrice="71.1", bid1Price="71.09", ask1Price="71.11"
    )
    stub.on("GET", "/v5/market/tickers", ltc, query={"symbol": "LTCUSDT"})


class StubbedBybitClients:
    """A picklable ccxt client factory: ccxt's real class with the logging stub as transport."""

    def __init__(self, log_path: str) -> None:
        self.log_path = log_path

    def __call__(self, ccxt_id: str, config: dict[str, Any]) -> Any:
        import ccxt.async_support as ccxt_async

        client = getattr(ccxt_async, ccxt_id)(config)
        client.enableRateLimit = False  # the stub answers at once
        client.timeout_on_exit = 0
        stub = LoggingStub(self.log_path)
        stub.install(client)
        bybit_routes(stub)
        return client


def requests_sent(log_path: Path) -> list[dict[str, Any]]:
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]


# -- THE TEST ------------------------------------------------------------------------


@pytest.fixture
def live_gateway(ray_session: str, tmp_path: Path) -> Iterator[tuple[Any, Path, Path]]:
    """Start ``gateway`` with the ccxt venue kind; yield (client, state dir, request log)."""
    import ray

    from cli.runtime import create_actor
    from gateway.actor import GatewayActor, GatewaySettings
    from gateway.client import GatewayClient
    from risk.limits import RiskLimits

    state_dir = tmp_path / "live"
    log_path = tmp_path / "requests.jsonl"
    settings = GatewaySettings(
        state_dir=str(state_dir),
        venues=(VENUE,),
        venue_kind="ccxt",
        ccxt_options={VENUE: {"defaultType": "swap"}},
        symbols={VENUE: (SYMBOL, HELD)},
        limits=RiskLimits(
            max_order_notional=Decimal(1000),
            max_position_notional=Decimal(5000),
            max_orders_per_window=60,
        ),
        poll_interval_s=0.2,
    )
    handle = create_actor(
        "gateway",
        "gateway",
        GatewayActor,
        settings,
        ccxt_client_factory=StubbedBybitClients(str(log_path)),
        ray_options={"runtime_env": {"env_vars": ENV}, "lifetime": None},
    )
    client = GatewayClient(deadline_s=120)
    try:
        client.wait_ready(120)
        yield client, state_dir, log_path
    finally:
        try:
            ray.get(handle.shutdown.remote(), timeout=30)
        finally:
            ray.kill(handle, no_restart=True)


def test_submit_when_gateway_holds_ccxt_bybit_then_order_goes_out_with_our_client_order_id(
    live_gateway: tuple[Any, Path, Path],
) -> None:
    from core.models import OrderType, Side, TimeInForce
    from gateway.intents import OrderIntent
    from gateway.orders import OrderState

    client, state_dir, log_path = live_gateway
    status = client.status()
    assert status["ready"] and status["error"] is None, status
    assert status["breaker"] == "closed", status
    recovery = status["stats"]["recovery"]
    assert recovery["reconciliation"] == {VENUE: "corrected"}, recovery  # books adopted
    assert recovery["marks"] == 2, recovery  # both markets marked from the venue's tickers

    client.set_budgets({"agent-live": Decimal(1000)})
    intent = OrderIntent(
        agent_id="agent-live",
        intent_id=f"live-{uuid.uuid4().hex[:8]}",
        venue=VENUE,
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.001"),
        price=Decimal("51000.0"),
        time_in_force=TimeInForce.GTC,
    )
    result = client.submit(intent)
    order = result.order
    assert order is not None, result
    assert order.state is OrderState.OPEN, order
    assert order.venue_order_id == "1609920528435648000"  # the recorded answer's order id

    creates = [r for r in requests_sent(log_path) if r["path"].endswith("/v5/order/create")]
    assert len(creates) == 1, creates  # one venue order for one intent
    sent = creates[0]["params"]
    assert sent["orderLinkId"] == order.client_order_id
    assert (sent["symbol"], sent["side"], sent["orderType"], sent["category"]) == (
        "BTCUSDT",
        "Buy",
        "Limit",
        "linear",
    )
    assert Decimal(sent["qty"]) == Decimal("0.001") and Decimal(sent["price"]) == Decimal("51000")

    again = client.submit(intent)  # the same intent again: its order, nothing sent
    assert again.order is not None and again.order.client_order_id == order.client_order_id
    creates = [r for r in requests_sent(log_path) if r["path"].endswith("/v5/order/create")]
    assert len(creates) == 1

    # the WAL holds the intent and the venue's answer, and never a key
    wal_bytes = b"".join(
        p.read_bytes() for p in sorted((state_dir / "wal").rglob("*")) if p.is_file()
    )
    assert order.client_order_id.encode() in wal_bytes
    assert b"1609920528435648000" in wal_bytes
    for secret in (KEY, SECRET):
        assert secret.encode() not in wal_bytes
