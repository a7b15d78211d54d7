from __future__ import annotations

from decimal import Decimal

import pytest

from core.events import FundingEvent, FundingPayment, Liquidation, MarkEvent
from core.models import OrderStatus
from exchanges.paper.ledger import LedgerKind
from exchanges.paper.venue import PaperVenue
from tests.unit.exchanges.paper.helpers import (
    PERP,
    SPOT,
    D,
    levels,
    make_venue,
    request,
    snapshot,
    standard_book,
)

HOUR_NS = 3_600_000_000_000


def funding(ts_ns: int, rate: str, mark: str | None = None, venue: str = "binance") -> FundingEvent:
    return FundingEvent(ts_ns, venue, PERP, D(rate), D(8), D(mark) if mark else None)


def entries(venue: PaperVenue, kind: LedgerKind) -> list[Decimal]:
    return [e.amount for e in venue.ledger() if e.kind is kind]


# -- FUNDING --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "rate", "expected"),
    [
        ("buy", "0.0001", "-0.02"),  # longs pay when the rate is positive
        ("sell", "0.0001", "0.02"),  # shorts receive it
        ("buy", "-0.0003", "0.06"),  # a negative rate turns it round
        ("sell", "-0.0003", "-0.06"),
    ],
)
def test_funding_when_position_open_then_paid_or_received_with_sign(
    side: str, rate: str, expected: str
) -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", side, "2"))
    venue.on_market_event(funding(8 * HOUR_NS, rate, mark="100"))
    assert entries(venue, LedgerKind.FUNDING) == [D(expected)]
    stats = venue.stats()
    assert (stats["funding_events"], stats["funding_payments"]) == (1, 1)
    assert venue.check_conservation() == []


def test_funding_when_event_has_no_mark_then_venue_mid_used() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))  # takes the 101 ask: the mid is now (100+102)/2
    venue.on_market_event(funding(8 * HOUR_NS, "0.001"))
    assert entries(venue, LedgerKind.FUNDING) == [D("-0.101")]


def test_funding_when_paid_then_venue_reports_the_payment_for_the_gateway() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))
    made = venue.on_market_event(funding(8 * HOUR_NS, "0.001"))  # no mark: the venue's mid
    assert made == [FundingPayment(8 * HOUR_NS, "binance", PERP, D("0.001"), D(101), D("-0.101"))]
    assert [m.amount for m in made if isinstance(m, FundingPayment)] == entries(
        venue, LedgerKind.FUNDING
    )
    assert venue.on_market_event(funding(16 * HOUR_NS, "0.001", "100")) == [
        FundingPayment(16 * HOUR_NS, "binance", PERP, D("0.001"), D(100), D("-0.1"))
    ]


def test_funding_when_same_settlement_arrives_twice_then_paid_once() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))
    venue.on_market_events([funding(8 * HOUR_NS, "0.0001", "100")] * 2)
    venue.on_market_event(funding(16 * HOUR_NS, "0.0001", "100"))
    assert entries(venue, LedgerKind.FUNDING) == [D("-0.01"), D("-0.01")]
    assert venue.stats()["funding_events"] == 2


def test_funding_when_flat_then_counted_but_nothing_paid() -> None:
    venue = make_venue()
    venue.on_market_event(funding(8 * HOUR_NS, "0.0001", "100"))
    assert entries(venue, LedgerKind.FUNDING) == []
    stats = venue.stats()
    assert (stats["funding_events"], stats["funding_payments"]) == (1, 0)
    assert venue.funding_rates()[PERP].rate == D("0.0001")


def test_funding_when_okx_contracts_then_contract_size_applies() -> None:
    venue = make_venue("okx")
    venue.on_market_event(standard_book("okx"))
    venue.submit(request("o1", "sell", "3"))
    venue.on_market_event(funding(8 * HOUR_NS, "0.0001", "100", venue="okx"))
    assert entries(venue, LedgerKind.FUNDING) == [D("0.0003")]  # 3 * 0.01 * 100 * 0.0001


def test_funding_when_spot_symbol_then_ignored() -> None:
    venue = make_venue()
    venue.on_market_event(FundingEvent(1, "binance", SPOT, D("0.01"), D(8)))
    assert venue.stats()["funding_events"] == 0


def test_mark_event_when_forecast_given_then_funding_rates_report_it() -> None:
    venue = make_venue()
    venue.on_market_event(
        MarkEvent(5, "binance", PERP, D("100.5"), D("100.4"), D("0.0002"), 8 * HOUR_NS)
    )
    rate = venue.funding_rates([PERP])[PERP]
    assert (rate.rate, rate.mark_price, rate.next_funding_timestamp) == (
        D("0.0002"),
        D("100.5"),
        8 * HOUR_NS // 1_000_000,
    )
    assert venue.ticker(PERP).index_price == D("100.4")


# -- MARGIN AND OWN LIQUIDATION -------------------------------------------------------


def leveraged_long() -> PaperVenue:
    """90 contracts long at 100 on 1000 USDT at 10x: liquidated below about 89.30."""
    venue = make_venue(balances={"USDT": D(1000)})
    venue.set_leverage(PERP, D(10))
    venue.on_market_event(
        snapshot("binance", PERP, levels(("99.9", "1000")), levels(("100", "1000")), 1)
    )
    order = venue.submit(request("o1", "buy", "90"))
    assert order.status is OrderStatus.CLOSED
    return venue


def test_position_when_cross_margin_then_liquidation_price_estimated() -> None:
    venue = leveraged_long()
    (position,) = venue.positions()
    # equity 995.5 + 90 (P - 100) meets maintenance 0.004 * 90 P at P = 8004.5 / 89.64
    assert position.liquidation_price == D("89.3")
    assert position.initial_margin == D("99.95") * 90 / 10


def test_own_position_when_mid_above_liquidation_price_then_kept() -> None:
    venue = leveraged_long()
    made = venue.on_market_event(
        snapshot("binance", PERP, levels(("89.4", "1000")), levels(("89.5", "1000")), 2)
    )
    assert made == [] and len(venue.positions()) == 1


def test_own_position_when_price_falls_through_liquidation_then_closed_and_recorded() -> None:
    venue = leveraged_long()
    resting = venue.submit(request("r1", "buy", "2", "90"))  # cancelled by the engine
    made = venue.on_market_event(
        snapshot("binance", PERP, levels(("89.1", "1000")), levels(("89.2", "1000")), 2)
    )
    assert made == [Liquidation(2, "binance", PERP, "sell", D("89.1"), D(90), "model")]
    assert venue.positions() == []
    assert venue.get_order(PERP, id=resting.id).status is OrderStatus.CANCELED
    fee = entries(venue, LedgerKind.LIQUIDATION_FEE)
    assert fee == [-(D("89.1") * 90 * D("0.0125"))]
    # the clearance fee exceeds what is left: the insurance fund covers the deficit
    assert len(entries(venue, LedgerKind.INSURANCE)) == 1
    assets = venue.balances().assets["USDT"]
    assert assets.total == 0 and assets.used == 0
    assert venue.stats()["own_liquidations"] == 1
    assert venue.check_conservation() == []


def test_own_position_when_mark_feed_and_book_empty_then_closed_at_mark() -> None:
    venue = leveraged_long()
    venue.on_market_event(MarkEvent(2, "binance", PERP, D(95)))
    venue.on_market_event(snapshot("binance", PERP, levels(), levels(("200", "1")), 3))
    assert len(venue.positions()) == 1  # the book's mid does not move a mark-fed mark
    made = venue.on_market_event(MarkEvent(4, "binance", PERP, D(89)))
    assert [(e.price, e.amount) for e in made if isinstance(e, Liquidation)] == [(D(89), D(90))]
    assert venue.my_trades()[-1].price == D(89)
    assert venue.check_conservation() == []


def test_own_short_when_price_rises_through_liquidation_then_closed_by_buying() -> None:
    venue = make_venue("okx", balances={"USDT": D(100)})
    venue.set_leverage(PERP, D(20))
    venue.on_market_event(
        snapshot("okx", PERP, levels(("100", "100000")), levels(("100.1", "100000")), 1)
    )
    venue.submit(request("s1", "sell", "1500"))  # 1500 contracts of 0.01 BTC: 1500 USDT
    # equity 99.25 + 1500 - 15 P meets maintenance 0.004 * 15 P at P = 106.19
    kept = venue.on_market_event(
        snapshot("okx", PERP, levels(("106", "100000")), levels(("106.1", "100000")), 2)
    )
    assert kept == []
    made = venue.on_market_event(
        snapshot("okx", PERP, levels(("106.3", "100000")), levels(("106.4", "100000")), 3)
    )
    assert [(e.side, e.amount) for e in made if isinstance(e, Liquidation)] == [("buy", D(1500))]
    assert venue.positions() == []
    assert venue.check_conservation() == []
