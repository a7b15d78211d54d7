from __future__ import annotations

import pytest

from core.clock import SimulatedClock
from core.config import PaperConfig
from core.events import FundingEvent, MarkEvent, TradeTick
from core.models import OrderStatus
from exchanges.paper.venue import PaperVenue
from exchanges.port import Exchange
from tests.unit.exchanges.paper.helpers import (
    PERP,
    D,
    make_venue,
    request,
    standard_book,
)


def test_paper_venue_when_checked_then_implements_exchange_port() -> None:
    assert isinstance(make_venue(), Exchange)


@pytest.mark.asyncio
async def test_port_methods_when_called_then_answer_from_the_core() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    markets = await venue.load_markets()
    assert PERP in markets
    order = await venue.create_order(request("p1", "buy", "1", "100.5"))
    assert (await venue.fetch_order(PERP, client_order_id="p1")).id == order.id
    assert [o.id for o in await venue.fetch_open_orders(PERP)] == [order.id]
    canceled = await venue.cancel_order(PERP, id=order.id)
    assert canceled.status is OrderStatus.CANCELED
    await venue.create_order(request("p2", "buy", "2"))
    trades = await venue.fetch_my_trades(PERP, since=0, limit=1)
    assert len(trades) == 1 and trades[0].client_order_id == "p2"
    (position,) = await venue.fetch_positions([PERP])
    assert position.contracts == D(2)
    balance = await venue.fetch_balance()
    assert balance.assets["USDT"].used > 0
    book = await venue.fetch_order_book(PERP, limit=1)
    assert len(book.bids) == 1 and len(book.asks) == 1
    venue.on_market_event(TradeTick(2, "binance", PERP, D(102), D(1), "buy"))
    assert (await venue.fetch_ticker(PERP)).last == D(102)
    venue.on_market_event(MarkEvent(3, "binance", PERP, D(101), funding_rate=D("0.0001")))
    assert (await venue.fetch_funding_rates())[PERP].rate == D("0.0001")
    await venue.close()


def test_venue_when_same_seed_and_inputs_then_identical_orders_fills_and_ledger() -> None:
    def run() -> tuple[object, ...]:
        venue = make_venue(model=True, seed=42)
        venue.on_market_event(standard_book())
        venue.submit(request("d1", "buy", "2"))
        venue.submit(request("d2", "sell", "1", "104"))
        made = venue.on_market_events(
            [
                TradeTick(2_000_000, "binance", PERP, D(105), D(3), "buy"),
                standard_book(ts_ns=3_000_000),
                FundingEvent(4_000_000, "binance", PERP, D("0.0001"), D(8)),
            ]
        )
        return (
            venue.open_orders(),
            venue.my_trades(),
            venue.ledger(),
            made,
            venue.stats(),
        )

    assert run() == run()


def test_from_paper_config_when_built_then_seed_balances_and_leverage_applied() -> None:
    venue = PaperVenue.from_paper_config("okx", SimulatedClock(0), PaperConfig())
    assert venue.balances().assets["USDT"].total == D(100_000)
    assert venue.liquidation_model is not None
    venue.on_market_event(standard_book("okx"))
    venue.submit(request("c1", "buy", "10"))
    assert venue.positions()[0].leverage == D(5)
