"""Spot margin in the paper venue: a spot sell beyond the holding borrows, interest accrues hourly.

Also the gateway's mirror of the account: it books the venue's fills and its interest
charges (``FundingPayment``s on the spot symbol) and stays equal to the venue, exactly.
"""

from __future__ import annotations

import pytest

from core.errors import InsufficientFunds, InvalidOrder
from core.events import BookDelta, FundingPayment, TopOfBook
from core.models import Side
from exchanges.paper.config import SpotMarginConfig
from exchanges.paper.ledger import LedgerKind
from exchanges.paper.venue import PaperVenue
from gateway.ledger import Ledger
from tests.unit.exchanges.paper.helpers import (
    PERP,
    SPOT,
    D,
    levels,
    make_venue,
    request,
    snapshot,
    state_of,
)

HOUR_NS = 3_600_000_000_000
RATE = D("0.00001")  # per hour: 8.76 %/yr


def spot_book(ts_ns: int = 1_000_000, bid: str = "100", ask: str = "101") -> BookDelta:
    return snapshot("binance", SPOT, levels((bid, "50")), levels((ask, "50")), ts_ns)


def margin_venue(usdt: str = "10000", btc: str = "0", **margin: object) -> PaperVenue:
    terms = SpotMarginConfig(enabled=True, borrow_rate_per_hour={"BTC": RATE}, **margin)
    balances = {"USDT": D(usdt)} | ({"BTC": D(btc)} if D(btc) else {})
    venue = make_venue(balances=balances, spot_margin=terms)
    venue.on_market_event(spot_book())
    return venue


def tick(venue: PaperVenue, ts_ns: int) -> list[object]:
    """Move the venue's time with a top-of-book print at the same prices."""
    top = TopOfBook(ts_ns, "binance", SPOT, D(100), D(1), D(101), D(1))
    return list(venue.on_market_event(top))


def test_spot_sell_beyond_holding_when_margin_off_then_refused_and_nothing_changes() -> None:
    venue = make_venue(balances={"USDT": D(10000)})
    venue.on_market_event(spot_book())
    before = state_of(venue)
    with pytest.raises(InsufficientFunds):
        venue.submit(request("s1", "sell", "2", symbol=SPOT))
    assert state_of(venue) == before


def test_spot_sell_beyond_holding_when_margin_on_then_borrows_the_base() -> None:
    venue = margin_venue(btc="0.5")
    order = venue.submit(request("s1", "sell", "2", symbol=SPOT))
    assert order.filled == D(2)
    balances = venue.balances().assets
    assert balances["BTC"].total == D("-1.5")  # 0.5 held, 1.5 borrowed
    # 2 sold at 100, fee 0.1 % of 200.
    assert balances["USDT"].total == D(10000) + D(200) - D("0.2")
    assert venue.stats()["loans"] == 1
    assert venue.check_conservation() == []


def test_spot_loan_when_margin_short_then_refused_naming_the_need() -> None:
    # 100 BTC at 100 = 10,000 borrowed needs 10,000 / 3 of margin; 1,000 is there.
    venue = margin_venue(usdt="1000")
    before = state_of(venue)
    with pytest.raises(InsufficientFunds, match="borrowing 50 BTC needs"):
        venue.submit(request("s1", "sell", "50", symbol=SPOT))
    assert state_of(venue) == before


def test_resting_sell_that_would_borrow_when_margin_on_then_refused() -> None:
    venue = margin_venue()
    with pytest.raises(InvalidOrder, match="would borrow"):
        venue.submit(request("s1", "sell", "1", "105", symbol=SPOT))


def test_loan_interest_when_hours_turn_then_charged_hourly_in_the_quote() -> None:
    venue = margin_venue()
    venue.submit(request("s1", "sell", "2", symbol=SPOT))
    made = tick(venue, HOUR_NS + 5)  # first hour turns: 2 BTC x mid 100.5 x 0.00001
    payments = [e for e in made if isinstance(e, FundingPayment)]
    assert payments == [FundingPayment(HOUR_NS, "binance", SPOT, -RATE, D("100.5"), D("-0.00201"))]
    assert tick(venue, HOUR_NS + 10) == []  # the same hour is charged once
    tick(venue, 3 * HOUR_NS + 1)  # two more hours at once
    interest = [e.amount for e in venue.ledger() if e.kind is LedgerKind.INTEREST]
    assert interest == [D("-0.00201"), D("-0.00402")]
    assert venue.stats()["interest_charges"] == 2
    assert venue.check_conservation() == []


def test_loan_when_bought_back_then_repaid_and_interest_stops() -> None:
    venue = margin_venue()
    venue.submit(request("s1", "sell", "2", symbol=SPOT))
    venue.submit(request("b1", "buy", "2", symbol=SPOT))
    assert venue.balances().assets["BTC"].total == 0
    tick(venue, 5 * HOUR_NS)
    assert not [e for e in venue.ledger() if e.kind is LedgerKind.INTEREST]


def test_loan_when_the_price_rises_then_the_quotes_margin_shrinks() -> None:
    venue = margin_venue(usdt="1000")
    venue.submit(request("s1", "sell", "20", symbol=SPOT))  # 2,000 borrowed at 100
    venue.on_market_event(snapshot("binance", PERP, levels(("150", "5")), levels(("151", "5"))))
    # Cash 2,998 less the loan at 100.5 (2,010) and its margin (670): a perp buy of 1 at
    # 151 needs 30.2 of margin at 5x and fits.
    venue.submit(request("p1", "buy", "1", symbol=PERP))
    # The spot price rises to 150.5: the loan is worth 3,010, its margin 1,003; equity is
    # now below zero before any margin, so the same order is refused.
    venue.on_market_event(spot_book(2_000_000, "150", "151"))
    with pytest.raises(InsufficientFunds):
        venue.submit(request("p2", "buy", "1", symbol=PERP))


def test_spot_margin_config_when_a_rate_is_negative_then_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"borrow_rate_per_hour\.BTC"):
        SpotMarginConfig(enabled=True, borrow_rate_per_hour={"BTC": D("-0.1")})


# -- THE GATEWAY'S MIRROR ---------------------------------------------------------------


def test_gateway_mirror_when_a_short_spot_pays_interest_then_conserved_exactly() -> None:
    venue = margin_venue(btc="0")
    markets = {("binance", s): m for s, m in venue.markets().items()}
    ledger = Ledger(markets, venue.rules.cash_step)
    for asset, balance in venue.balances().assets.items():
        ledger.correct_balance("binance", asset, balance.total)  # adopted at the start
    venue.submit(request("s1", "sell", "2", symbol=SPOT))
    venue.submit(request("b1", "buy", "0.5", symbol=SPOT))
    for trade in venue.my_trades():
        ledger.apply_fill(
            "funding-arb",
            markets[("binance", trade.symbol)],
            trade.id,
            Side(trade.side),
            trade.price,
            trade.amount,
            trade.fee.cost if trade.fee else D(0),
            trade.fee.currency if trade.fee else None,
            trade.timestamp,
        )
    payments = [e for e in tick(venue, 2 * HOUR_NS + 1) if isinstance(e, FundingPayment)]
    assert len(payments) == 1 and payments[0].amount < 0
    for payment in payments:
        shares = ledger.funding_payments(
            "binance", payment.symbol, payment.rate, payment.mark_price
        )
        assert shares == {"funding-arb": payment.amount}  # the short holder pays all of it
        ledger.apply_funding("binance", "USDT", shares, payment.amount)
    venue_totals = {a: b.total for a, b in venue.balances().assets.items() if b.total}
    mirror = {a: v for a, v in ledger.expected_balances("binance").items() if v}
    assert mirror == venue_totals
    assert ledger.conservation_errors() == []
    assert venue.check_conservation() == []


def test_gateway_funding_split_when_an_agent_is_long_spot_then_it_pays_no_interest() -> None:
    venue = margin_venue()
    markets = {("binance", s): m for s, m in venue.markets().items()}
    ledger = Ledger(markets, venue.rules.cash_step)
    spot = markets[("binance", SPOT)]
    ledger.apply_fill("long", spot, "t1", Side.BUY, D(100), D(1), D(0), None, 1)
    ledger.apply_fill("short", spot, "t2", Side.SELL, D(100), D(3), D(0), None, 2)
    shares = ledger.funding_payments("binance", SPOT, -RATE, D(100))
    assert shares == {"short": D("-0.00300000")}
