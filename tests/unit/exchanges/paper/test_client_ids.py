from __future__ import annotations

import pytest

from core.errors import DuplicateClientOrderId
from core.events import TradeTick
from core.models import OrderStatus
from tests.unit.exchanges.paper.helpers import (
    HL_PERP,
    PERP,
    D,
    levels,
    make_venue,
    request,
    snapshot,
    standard_book,
)


@pytest.mark.parametrize("name", ["binance", "okx"])
def test_create_order_when_reused_client_id_after_fill_then_accepted_as_second_order(
    name: str,
) -> None:
    venue = make_venue(name)
    venue.on_market_event(standard_book(name))
    first = venue.submit(request("dup1", "buy", "1"))
    assert first.status is OrderStatus.CLOSED
    second = venue.submit(request("dup1", "buy", "1"))
    assert second.id != first.id
    mine = [o for o in (first, second) if o.client_order_id == "dup1"]
    assert len(mine) == 2
    assert [t.client_order_id for t in venue.my_trades()].count("dup1") >= 2
    assert venue.get_order(PERP, client_order_id="dup1").id == second.id
    assert venue.get_order(PERP, id=first.id).status is OrderStatus.CLOSED


@pytest.mark.parametrize("name", ["binance", "okx"])
def test_create_order_when_reused_client_id_after_cancel_then_accepted(name: str) -> None:
    venue = make_venue(name)
    venue.on_market_event(standard_book(name))
    first = venue.submit(request("dup1", "buy", "1", "100.5"))
    venue.cancel(PERP, client_order_id="dup1")
    second = venue.submit(request("dup1", "buy", "1", "100.5"))
    assert second.id != first.id and second.status is OrderStatus.OPEN
    assert venue.cancel(PERP, client_order_id="dup1").id == second.id


@pytest.mark.parametrize("name", ["binance", "okx", "bybit", "hyperliquid"])
def test_create_order_when_client_id_held_by_open_order_then_refused(name: str) -> None:
    symbol = HL_PERP if name == "hyperliquid" else PERP
    price = "100" if name == "hyperliquid" else "100.5"  # Hyperliquid's BTC tick is 1
    venue = make_venue(name)
    venue.on_market_event(standard_book(name, symbol))
    venue.submit(request("dup1", "buy", "1", price, symbol=symbol))
    before = venue.balances()
    with pytest.raises(DuplicateClientOrderId, match="dup1"):
        venue.submit(request("dup1", "buy", "1", price, symbol=symbol))
    assert venue.balances() == before
    assert len(venue.open_orders()) == 1


def test_create_order_when_bybit_reuses_client_id_after_fill_then_refused() -> None:
    venue = make_venue("bybit")
    venue.on_market_event(standard_book("bybit"))
    venue.submit(request("dup1", "buy", "1"))
    with pytest.raises(DuplicateClientOrderId, match="never"):
        venue.submit(request("dup1", "buy", "1"))
    assert venue.stats()["orders"] == 1


def test_create_order_when_bybit_reuses_client_id_after_cancel_then_refused() -> None:
    venue = make_venue("bybit")
    venue.on_market_event(standard_book("bybit"))
    venue.submit(request("dup1", "buy", "1", "100.5"))
    venue.cancel(PERP, client_order_id="dup1")
    with pytest.raises(DuplicateClientOrderId):
        venue.submit(request("dup1", "buy", "1", "100.5"))


def test_create_order_when_hyperliquid_reuses_cloid_after_fill_then_refused() -> None:
    venue = make_venue("hyperliquid")
    venue.on_market_event(
        snapshot("hyperliquid", HL_PERP, levels(("60000", "1")), levels(("60001", "1")), 1)
    )
    venue.submit(request("dup1", "buy", "0.01", symbol=HL_PERP))
    with pytest.raises(DuplicateClientOrderId):
        venue.submit(request("dup1", "buy", "0.01", symbol=HL_PERP))


def test_create_order_when_refused_for_validation_then_client_id_still_free() -> None:
    from core.errors import InvalidValue

    venue = make_venue("bybit")
    venue.on_market_event(standard_book("bybit"))
    with pytest.raises(InvalidValue):
        venue.submit(request("free1", "buy", "1", "100.55"))  # off tick
    assert venue.submit(request("free1", "buy", "1", "100.5")).status is OrderStatus.OPEN


def test_binance_client_id_when_first_order_filled_by_trade_then_reusable() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("dup1", "buy", "1", "100.5"))
    with pytest.raises(DuplicateClientOrderId):
        venue.submit(request("dup1", "buy", "1", "100.5"))
    venue.on_market_event(TradeTick(2_000_000, "binance", PERP, D(100), D(5), "sell"))
    assert venue.submit(request("dup1", "buy", "1", "100.5")).status is OrderStatus.OPEN
