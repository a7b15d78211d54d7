from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.ids import CLIENT_ORDER_ID_PATTERN
from core.models import OrderRequest, OrderType, Side, TimeInForce
from gateway.intents import (
    CLIENT_ORDER_ID_PREFIX,
    OrderIntent,
    client_order_id_for,
    intent_fingerprint,
    is_swarm_client_order_id,
)

D = Decimal
BASE = {
    "agent_id": "mm",
    "intent_id": "tick-42:bid",
    "venue": "paper",
    "symbol": "BTC/USDT",
    "side": "buy",
    "type": "limit",
    "amount": "0.01",
    "price": "60000.5",
}


def make(**changes: object) -> OrderIntent:
    return OrderIntent.model_validate(BASE | changes)


# -- CLIENT ORDER IDS ---------------------------------------------------------


def test_client_order_id_when_computed_twice_then_identical_and_well_formed() -> None:
    first = client_order_id_for("mm", "tick-42:bid")
    assert first == client_order_id_for("mm", "tick-42:bid")
    assert len(first) == 16
    assert first.startswith(CLIENT_ORDER_ID_PREFIX)
    assert CLIENT_ORDER_ID_PATTERN.match(first)
    assert is_swarm_client_order_id(first)


def test_client_order_id_when_known_input_then_stable_across_versions() -> None:
    # Pinned: a change here would orphan every order already on a venue.
    assert client_order_id_for("mm", "q1") == "swnEzfBVsWGTxhRG"


def test_client_order_id_when_ids_split_differently_then_different() -> None:
    assert client_order_id_for("ab", "c") != client_order_id_for("a", "bc")
    assert client_order_id_for("mm", "x") != client_order_id_for("arb", "x")


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=80))
def test_client_order_id_when_any_input_then_matches_every_venue_format(
    agent: str, intent_id: str
) -> None:
    cid = client_order_id_for(agent, intent_id)
    assert CLIENT_ORDER_ID_PATTERN.match(cid)
    # Hyperliquid's cloid is 128 bits: our 16 ASCII bytes map to it and back.
    cloid = "0x" + cid.encode().hex()
    assert len(cloid) == 34
    assert bytes.fromhex(cloid[2:]).decode() == cid


def test_is_swarm_client_order_id_when_foreign_or_malformed_then_false() -> None:
    assert not is_swarm_client_order_id(None)
    assert not is_swarm_client_order_id("abc123")
    assert not is_swarm_client_order_id("sw" + "x" * 13)
    assert not is_swarm_client_order_id("sw" + "-" * 14)


# -- THE MODEL ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "NaN"),
        ("amount", "Infinity"),
        ("amount", "-1"),
        ("amount", "0"),
        ("amount", 0.1),
        ("price", "NaN"),
        ("price", "-Infinity"),
        ("price", "-5"),
        ("price", "0"),
        ("price", None),  # a limit needs one
        ("agent_id", "MM"),
        ("agent_id", ""),
        ("intent_id", ""),
        ("intent_id", "has space"),
        ("intent_id", "x" * 200),
        ("side", "short"),
        ("type", "stop"),
    ],
)
def test_intent_when_field_invalid_then_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        make(**{field: value})


def test_intent_when_market_post_only_then_refused() -> None:
    with pytest.raises(ValidationError):
        make(type="market", price=None, post_only=True)
    with pytest.raises(ValidationError):
        make(type="market", price=None, time_in_force="PO")


def test_intent_when_unknown_key_then_refused() -> None:
    with pytest.raises(ValidationError):
        OrderIntent.model_validate(BASE | {"leverage": "3"})


def test_to_request_when_called_then_carries_every_parameter_and_the_id() -> None:
    intent = make(time_in_force="IOC", reduce_only=True)
    cid = intent.client_order_id
    request = intent.to_request(cid)
    assert request == OrderRequest(
        client_order_id=cid,
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D("0.01"),
        price=D("60000.5"),
        time_in_force=TimeInForce.IOC,
        reduce_only=True,
    )


# -- FINGERPRINT --------------------------------------------------------------


def test_fingerprint_when_same_numbers_spelled_differently_then_equal() -> None:
    assert intent_fingerprint(make(amount="0.010", price="60000.50")) == intent_fingerprint(make())


def test_fingerprint_when_only_ids_differ_then_equal() -> None:
    assert intent_fingerprint(make(intent_id="other")) == intent_fingerprint(make())


@pytest.mark.parametrize(
    "change",
    [
        {"venue": "binance"},
        {"symbol": "ETH/USDT"},
        {"side": "sell"},
        {"type": "market", "price": None},
        {"amount": "0.02"},
        {"price": "60000.6"},
        {"time_in_force": "IOC"},
        {"post_only": True},
        {"reduce_only": True},
    ],
)
def test_fingerprint_when_any_parameter_differs_then_different(change: dict[str, object]) -> None:
    assert intent_fingerprint(make(**change)) != intent_fingerprint(make())
