"""GatewaySettings with ``venue_kind = "ccxt"``: venues built from the environment, keys kept out.

The ccxt clients are ccxt's real classes; nothing is sent (no call reaches the network).
"""

from __future__ import annotations

import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from pydantic import ValidationError

from core.errors import ConfigError, InvalidValue, SecretMissing
from core.models import Market, MarketType, Side, Trade
from exchanges.ccxt_adapter import CcxtExchange
from gateway.actor import (
    GatewaySettings,
    TradesSince,
    account_start_ms,
    build_ccxt_venues,
    select_markets,
)

KEYS = {
    "SWARM_BYBIT_API_KEY": "BYBITFAKEKEY0123456789",
    "SWARM_BYBIT_SECRET": "BYBITFAKESECRET9876543210",
    "SWARM_OKX_API_KEY": "OKXFAKEKEY-0123-4567",
    "SWARM_OKX_SECRET": "OKXFAKESECRET9876543210",
    "SWARM_OKX_PASSWORD": "OKXFAKEPASSPHRASE42",
}


class Capture:
    """A ccxt client factory that builds ccxt's real class and keeps what it was given."""

    def __init__(self) -> None:
        self.configs: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, Any] = {}

    def __call__(self, ccxt_id: str, config: dict[str, Any]) -> Any:
        self.configs[ccxt_id] = config
        client = self.clients[ccxt_id] = getattr(ccxt_async, ccxt_id)(config)
        return client


def settings(**overrides: Any) -> GatewaySettings:
    fields: dict[str, Any] = {
        "state_dir": "/tmp/unused",
        "venues": ("bybit", "okx"),
        "venue_kind": "ccxt",
    }
    fields.update(overrides)
    return GatewaySettings(**fields)


async def close_all(venues: dict[str, Any]) -> None:
    for venue in venues.values():
        await venue.close()


@pytest.mark.asyncio
async def test_build_when_ccxt_kind_and_keys_in_environment_then_each_venue_gets_its_keys() -> None:
    capture = Capture()
    venues = build_ccxt_venues(settings(), KEYS, client_factory=capture)
    try:
        assert set(venues) == {"bybit", "okx"}
        assert all(isinstance(v, CcxtExchange) for v in venues.values())
        assert [v.venue for v in venues.values()] == ["bybit", "okx"]
        assert capture.configs["bybit"]["apiKey"] == KEYS["SWARM_BYBIT_API_KEY"]
        assert capture.configs["bybit"]["secret"] == KEYS["SWARM_BYBIT_SECRET"]
        assert capture.configs["okx"]["password"] == KEYS["SWARM_OKX_PASSWORD"]
        assert "authenticated" in repr(venues["okx"])
    finally:
        await close_all(venues)


def test_build_when_a_key_is_missing_then_secret_missing_names_the_variable() -> None:
    environ = {k: v for k, v in KEYS.items() if k != "SWARM_OKX_SECRET"}
    with pytest.raises(SecretMissing, match="SWARM_OKX_SECRET"):
        build_ccxt_venues(settings(), environ, client_factory=Capture())


@pytest.mark.asyncio
async def test_build_when_sandbox_and_options_set_then_client_uses_testnet_and_options() -> None:
    capture = Capture()
    chosen = settings(
        venues=("bybit",), sandbox=True, ccxt_options={"bybit": {"defaultType": "swap"}}
    )
    venues = build_ccxt_venues(chosen, KEYS, client_factory=capture)
    try:
        client = capture.clients["bybit"]
        assert client.isSandboxModeEnabled is True
        assert "testnet" in str(client.urls["api"])
        assert client.options["defaultType"] == "swap"
    finally:
        await close_all(venues)


@pytest.mark.asyncio
async def test_settings_when_ccxt_kind_then_no_key_in_repr_dump_or_pickled_actor_args() -> None:
    chosen = settings(sandbox=True, ccxt_options={"okx": {"defaultType": "swap"}})
    venues = build_ccxt_venues(chosen, KEYS, client_factory=Capture())
    try:
        # what the actor is created with: its positional and keyword arguments
        actor_args = pickle.dumps(((chosen,), {"ccxt_client_factory": None}))
        texts = [repr(chosen), str(chosen.model_dump()), *(repr(v) for v in venues.values())]
        for value in KEYS.values():
            assert value.encode() not in actor_args
            assert all(value not in text for text in texts), value
    finally:
        await close_all(venues)


def test_settings_when_a_credential_is_passed_as_ccxt_option_then_refused_without_echoing_it() -> (
    None
):
    with pytest.raises(ConfigError) as caught:
        settings(ccxt_options={"bybit": {"apiKey": "LEAKEDKEY123"}})
    assert "ccxt_options.bybit.apiKey" in str(caught.value)
    assert "LEAKEDKEY123" not in str(caught.value)


def test_settings_when_default_then_paper_venue_kind() -> None:
    assert GatewaySettings(state_dir="x", venues=("binance",)).venue_kind == "paper"
    with pytest.raises(ValidationError, match="venue_kind"):
        GatewaySettings(state_dir="x", venues=("binance",), venue_kind="ftx")  # type: ignore[arg-type]


def market(symbol: str) -> Market:
    return Market(
        venue="bybit",
        symbol=symbol,
        id=symbol.replace("/", "").split(":")[0],
        base=symbol.split("/")[0],
        quote="USDT",
        settle="USDT",
        linear=True,
        type=MarketType.SWAP,
        price_tick=Decimal("0.1"),
        amount_step=Decimal("0.001"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.00055"),
    )


def test_select_markets_when_symbols_named_then_only_those_and_a_missing_one_is_an_error() -> None:
    listed = {s: market(s) for s in ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")}
    assert select_markets("bybit", listed, None) == listed
    wanted = {"bybit": ("BTC/USDT:USDT",)}
    assert list(select_markets("bybit", listed, wanted)) == ["BTC/USDT:USDT"]
    assert select_markets("okx", listed, wanted) == {}
    with pytest.raises(InvalidValue, match=r"symbols\.bybit.*XRP/USDT:USDT"):
        select_markets("bybit", listed, {"bybit": ("BTC/USDT:USDT", "XRP/USDT:USDT")})


# -- TRADES FROM BEFORE SWARM TOOK OVER THE ACCOUNT -------------------------------


def test_account_start_when_first_start_then_recorded_and_read_back_after_restart(
    tmp_path: Path,
) -> None:
    first = account_start_ms(tmp_path, 1_700_000_000_123_456_789)
    assert first == 1_700_000_000_123
    assert account_start_ms(tmp_path, 1_800_000_000_000_000_000) == first  # a restart keeps it
    (tmp_path / "account-start").write_text("yesterday\n", encoding="utf-8")
    with pytest.raises(InvalidValue, match="yesterday"):
        account_start_ms(tmp_path, 1_800_000_000_000_000_000)


class TradesVenue:
    """A venue reporting fixed trades and the ``since`` it was asked for."""

    venue = "bybit"

    def __init__(self, trades: list[Trade]) -> None:
        self.trades = trades
        self.asked: list[int | None] = []

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        self.asked.append(since)
        return self.trades

    async def fetch_balance(self) -> str:
        return "balances"


def trade(trade_id: str, timestamp: int) -> Trade:
    return Trade(
        venue="bybit",
        symbol="BTC/USDT:USDT",
        id=trade_id,
        order_id="o1",
        side=Side.BUY,
        price=Decimal("60000"),
        amount=Decimal("0.001"),
        cost=Decimal("60"),
        timestamp=timestamp,
    )


@pytest.mark.asyncio
async def test_trades_since_when_history_predates_start_then_only_later_trades_reported() -> None:
    inner = TradesVenue([trade("old", 999), trade("new", 1000), trade("later", 5000)])
    venue = TradesSince(inner, 1000)
    assert [t.id for t in await venue.fetch_my_trades()] == ["new", "later"]
    await venue.fetch_my_trades(None, 4000)
    await venue.fetch_my_trades(None, 10)
    assert inner.asked == [1000, 4000, 1000]  # the venue is never asked for older trades
    assert venue.venue == "bybit"
    assert await venue.fetch_balance() == "balances"  # everything else passes through


def test_tuning_when_gateway_section_then_retention_in_ns_and_checkpoint_settings() -> None:
    from core.config import GatewayConfig
    from gateway.actor import tuning_of

    engine, checkpoints = tuning_of(
        GatewayConfig(
            order_retention_s=90.0,
            idempotency_retention_s=None,
            trade_id_retention_s=120.0,
            checkpoint_every_records=500,
            checkpoint_every_s=None,
            retire_segments="delete",
        )
    )
    assert engine.terminal_order_retention_ns == 90 * 10**9
    assert engine.idempotency_retention_ns is None
    assert engine.trade_id_retention_ns == 120 * 10**9
    assert GatewayConfig().trade_id_retention_s == 3_600.0
    assert (checkpoints.every_records, checkpoints.every_s) == (500, None)
    assert checkpoints.retire == "delete"
    assert GatewaySettings(state_dir="x", venues=("binance",)).checkpoints is not None
