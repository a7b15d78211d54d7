from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from core.errors import InvalidValue
from core.models import (
    Market,
    MarketType,
    Order,
    OrderBookSnapshot,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)


def perp(**overrides: object) -> Market:
    fields: dict[str, object] = dict(
        venue="binance",
        symbol="BTC/USDT:USDT",
        id="BTCUSDT",
        type=MarketType.SWAP,
        base="BTC",
        quote="USDT",
        settle="USDT",
        linear=True,
        inverse=False,
        price_tick=Decimal("0.1"),
        amount_step=Decimal("0.001"),
        min_amount=Decimal("0.001"),
        min_cost=Decimal("100"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
    )
    fields.update(overrides)
    return Market(**fields)  # type: ignore[arg-type]


def test_market_when_valid_then_quantizes_price_and_amount() -> None:
    market = perp()
    assert market.quantize_price(Decimal("61800.26")) == Decimal("61800.3")
    assert market.quantize_price(Decimal("61800.26"), "down") == Decimal("61800.2")
    assert market.quantize_amount(Decimal("0.0149")) == Decimal("0.014")
    assert market.notional(Decimal("0.002"), Decimal("60000")) == Decimal("120.000")


@pytest.mark.parametrize(
    ("amount", "price", "field", "reason"),
    [
        ("0", "60000", "amount", "> 0"),
        ("-1", "60000", "amount", "> 0"),
        ("0.0015", "60000", "amount", "lot"),
        ("0.002", "60000.05", "price", "tick"),
        ("0.001", "60000", "amount", "notional"),
        ("0.002", "0", "price", "> 0"),
    ],
)
def test_market_check_order_when_rule_broken_then_names_field(
    amount: str, price: str, field: str, reason: str
) -> None:
    with pytest.raises(InvalidValue) as exc:
        perp().check_order(Decimal(amount), Decimal(price))
    assert exc.value.field == field
    assert reason in str(exc.value)


def test_market_when_float_tick_then_refused() -> None:
    with pytest.raises(ValidationError, match="floats are not accepted"):
        perp(price_tick=0.1)


def test_market_when_spot_with_settle_then_refused() -> None:
    with pytest.raises(ValidationError, match="spot market"):
        perp(type=MarketType.SPOT)


def test_market_when_frozen_then_cannot_change() -> None:
    market = perp()
    with pytest.raises(ValidationError):
        market.taker_fee = Decimal(0)  # type: ignore[misc]


def test_market_when_unknown_field_then_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        perp(tick=Decimal(1))


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"client_order_id": "has-dash"}, "client_order_id"),
        ({"client_order_id": "x" * 33}, "client_order_id"),
        ({"amount": Decimal("NaN")}, "finite"),
        ({"amount": "inf"}, "finite"),
        ({"amount": Decimal(0)}, "amount"),
        ({"price": Decimal(-1)}, "price"),
        ({"price": None}, "needs a price"),
        ({"type": OrderType.MARKET, "price": None, "post_only": True}, "post-only"),
    ],
)
def test_order_request_when_bad_then_refused(overrides: dict[str, object], needle: str) -> None:
    fields: dict[str, object] = dict(
        client_order_id="abc123",
        symbol="BTC/USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.01"),
        price=Decimal("60000"),
    )
    fields.update(overrides)
    with pytest.raises(ValidationError, match=needle):
        OrderRequest(**fields)  # type: ignore[arg-type]


def test_order_request_when_po_time_in_force_then_is_post_only() -> None:
    request = OrderRequest(
        client_order_id="a1",
        symbol="BTC/USDT",
        side=Side.SELL,
        type=OrderType.LIMIT,
        amount=Decimal(1),
        price=Decimal(2),
        time_in_force=TimeInForce.PO,
    )
    assert request.is_post_only
    assert Side.SELL.opposite is Side.BUY and Side.SELL.sign == -1


def test_order_when_filled_beyond_amount_then_refused() -> None:
    with pytest.raises(ValidationError, match="filled"):
        Order(
            venue="binance",
            id="1",
            client_order_id="a",
            symbol="BTC/USDT",
            side=Side.BUY,
            type=OrderType.LIMIT,
            status=OrderStatus.OPEN,
            amount=Decimal(1),
            filled=Decimal(2),
        )
    assert OrderStatus.CANCELED.is_terminal and not OrderStatus.OPEN.is_terminal


def test_book_snapshot_when_crossed_or_unsorted_then_refused() -> None:
    ok = OrderBookSnapshot(
        venue="binance",
        symbol="BTC/USDT",
        bids=((Decimal(100), Decimal(1)), (Decimal(99), Decimal(2))),
        asks=((Decimal(101), Decimal(1)),),
    )
    assert ok.mid == Decimal("100.5")
    with pytest.raises(ValidationError, match="crosses"):
        OrderBookSnapshot(
            venue="b",
            symbol="s",
            bids=((Decimal(101), Decimal(1)),),
            asks=((Decimal(100), Decimal(1)),),
        )
    with pytest.raises(ValidationError, match="out of order"):
        OrderBookSnapshot(
            venue="b",
            symbol="s",
            bids=((Decimal(99), Decimal(1)), (Decimal(100), Decimal(1))),
            asks=(),
        )
    with pytest.raises(ValidationError, match="price must be > 0"):
        OrderBookSnapshot(venue="b", symbol="s", bids=((Decimal(-1), Decimal(1)),), asks=())
