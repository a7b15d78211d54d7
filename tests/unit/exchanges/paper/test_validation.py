from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.errors import DeniedError, InsufficientFunds, InvalidValue, UnknownSymbol
from core.models import OrderRequest, OrderType, Side, TimeInForce
from tests.unit.exchanges.paper.helpers import (
    PERP,
    SPOT,
    D,
    make_venue,
    request,
    standard_book,
    state_of,
)


def raw(**fields: Any) -> OrderRequest:
    """An OrderRequest built without its own validation, as a careless caller could."""
    base: dict[str, Any] = {
        "client_order_id": "bad1",
        "symbol": PERP,
        "side": Side.BUY,
        "type": OrderType.LIMIT,
        "amount": D(1),
        "price": D("100.5"),
        "time_in_force": TimeInForce.GTC,
        "post_only": False,
        "reduce_only": False,
    }
    base.update(fields)
    return OrderRequest.model_construct(**base)


BAD_REQUESTS: list[tuple[str, OrderRequest, type[DeniedError], str]] = [
    ("nan amount", raw(amount=Decimal("NaN")), InvalidValue, "amount"),
    ("infinite amount", raw(amount=Decimal("Infinity")), InvalidValue, "amount"),
    ("negative amount", raw(amount=D(-1)), InvalidValue, "amount"),
    ("zero amount", raw(amount=D(0)), InvalidValue, "amount"),
    ("nan price", raw(price=Decimal("NaN")), InvalidValue, "price"),
    ("infinite price", raw(price=Decimal("-Infinity")), InvalidValue, "price"),
    ("negative price", raw(price=D(-100)), InvalidValue, "price"),
    ("zero price", raw(price=D(0)), InvalidValue, "price"),
    ("float amount", raw(amount=1.0), InvalidValue, "amount"),
    ("limit without price", raw(price=None), InvalidValue, "price"),
    ("off-tick price", raw(price=D("100.55")), InvalidValue, "price"),
    ("off-lot amount", raw(amount=D("1.0005")), InvalidValue, "amount"),
    ("below minimum amount", raw(amount=D("0.0001")), InvalidValue, "amount"),
    ("below minimum notional", raw(amount=D("0.5")), InvalidValue, "amount"),
    ("above maximum amount", raw(amount=D(1001)), InvalidValue, "amount"),
    (
        "market above market maximum",
        raw(type=OrderType.MARKET, price=None, amount=D(121)),
        InvalidValue,
        "amount",
    ),
    (
        "market below minimum notional",
        raw(type=OrderType.MARKET, price=None, amount=D("0.5")),
        InvalidValue,
        "amount",
    ),
    (
        "market post-only",
        raw(type=OrderType.MARKET, price=None, post_only=True),
        InvalidValue,
        "post_only",
    ),
    ("unknown symbol", raw(symbol="DOGE/USDT:USDT"), UnknownSymbol, "symbol"),
    ("bad side", raw(side="up"), InvalidValue, "request"),
    ("margin far beyond balance", raw(amount=D(900)), InsufficientFunds, "needs"),
]


@pytest.mark.parametrize(
    ("case", "bad", "error", "named"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS]
)
def test_submit_when_input_bad_then_typed_error_and_nothing_reserved(
    case: str, bad: OrderRequest, error: type[DeniedError], named: str
) -> None:
    venue = make_venue(balances={"USDT": D(10_000)})
    venue.on_market_event(standard_book())
    venue.submit(request("keep1", "buy", "1", "100.2"))  # an unrelated open order
    before = state_of(venue)
    with pytest.raises(error) as caught:
        venue.submit(bad)
    if isinstance(caught.value, InvalidValue):
        assert caught.value.field == named
    else:
        assert named in str(caught.value)
    assert state_of(venue) == before
    assert venue.stats()["rejections"] == 1
    assert venue.check_conservation() == []


def test_spot_buy_when_quote_short_then_insufficient_funds_and_nothing_locked() -> None:
    venue = make_venue(balances={"USDT": D(100)})
    venue.on_market_event(standard_book(symbol=SPOT))
    before = state_of(venue)
    with pytest.raises(InsufficientFunds, match="USDT"):
        venue.submit(request("b1", "buy", "1", "100.5", symbol=SPOT))  # needs 100.6005
    with pytest.raises(InsufficientFunds):
        venue.submit(request("b2", "buy", "1", symbol=SPOT))
    assert state_of(venue) == before
    assert venue.balances().assets["USDT"].used == 0


def test_spot_sell_when_base_short_then_insufficient_funds() -> None:
    venue = make_venue(balances={"USDT": D(1000), "BTC": D("0.5")})
    venue.on_market_event(standard_book(symbol=SPOT))
    with pytest.raises(InsufficientFunds, match="BTC"):
        venue.submit(request("s1", "sell", "1", "105", symbol=SPOT))


def test_spot_buy_when_exactly_affordable_at_taker_rate_then_accepted() -> None:
    venue = make_venue(balances={"USDT": D("100.6005")})
    venue.on_market_event(standard_book(symbol=SPOT))
    order = venue.submit(request("b1", "buy", "1", "100.5", symbol=SPOT))
    assets = venue.balances().assets
    assert order.filled == 0 and assets["USDT"].free == 0
    venue.cancel(SPOT, id=order.id)
    assert venue.balances().assets["USDT"].free == D("100.6005")


def test_perp_when_second_order_exceeds_free_margin_then_refused() -> None:
    venue = make_venue(balances={"USDT": D(100)})  # leverage 5: 500 of notional
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "4", "100.1"))  # locks 80.08
    with pytest.raises(InsufficientFunds):
        venue.submit(request("o2", "buy", "1", "100.2"))
    assert len(venue.open_orders()) == 1
    assert venue.check_conservation() == []


def test_set_leverage_when_out_of_range_or_position_open_then_refused() -> None:
    from core.errors import InvalidOrder

    venue = make_venue()
    venue.on_market_event(standard_book())
    with pytest.raises(InvalidValue, match="leverage"):
        venue.set_leverage(PERP, D(126))
    with pytest.raises(InvalidValue, match="spot"):
        venue.set_leverage(SPOT, D(2))
    venue.set_leverage(PERP, D(20))
    venue.submit(request("o1", "buy", "1"))
    assert venue.positions()[0].leverage == D(20)
    with pytest.raises(InvalidOrder, match="close"):
        venue.set_leverage(PERP, D(10))
