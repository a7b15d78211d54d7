from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidValue
from core.models import Side
from exchanges.paper.margin import PositionState
from gateway.ledger import HOUSE, FillOutcome, Holding, Ledger
from tests.unit.gateway.engine_support import MARKETS, PERP, PERP_MARKET, SPOT, SPOT_MARKET, VENUE

D = Decimal
STEP = D("0.00000001")


def ledger() -> Ledger:
    return Ledger(MARKETS, STEP)


def test_spot_when_bought_and_sold_then_cash_holdings_fees_and_realized_pnl() -> None:
    books = ledger()
    assert books.apply_fill("mm", SPOT_MARKET, "t1", Side.BUY, D(100), D(2), D("0.2"), "USDT") is (
        FillOutcome.APPLIED
    )
    books.apply_fill("mm", SPOT_MARKET, "t2", Side.SELL, D(110), D(1), D("0.11"), "USDT")
    book = books.agents["mm"]
    assert book.cash[(VENUE, "USDT")] == D(-200) - D("0.2") + D(110) - D("0.11")
    assert book.positions[(VENUE, SPOT)].contracts == D(1)
    assert book.positions[(VENUE, SPOT)].basis == D(100)
    assert book.realized[(VENUE, "USDT")] == D(10)
    assert book.fees[(VENUE, "USDT")] == D("0.31")
    assert books.expected_balances(VENUE) == {"USDT": D("-90.31"), "BTC": D(1)}
    assert books.conservation_errors() == []


def test_fill_when_same_trade_id_twice_then_booked_once() -> None:
    books = ledger()
    books.apply_fill("mm", SPOT_MARKET, "t1", Side.BUY, D(100), D(1), D("0.1"), "USDT")
    before = books.view("mm")
    again = books.apply_fill("mm", SPOT_MARKET, "t1", Side.BUY, D(100), D(1), D("0.1"), "USDT")
    assert again is FillOutcome.DUPLICATE
    assert books.view("mm") == before


def test_fee_when_in_base_asset_then_charged_to_base_cash() -> None:
    books = ledger()
    books.apply_fill("mm", SPOT_MARKET, "t1", Side.BUY, D(100), D(1), D("0.001"), "BTC")
    assert books.agents["mm"].cash[(VENUE, "BTC")] == D("-0.001")
    assert books.expected_balances(VENUE)["BTC"] == D("0.999")
    assert books.conservation_errors() == []


def test_perp_when_agents_net_against_each_other_then_conserved_against_the_aggregate() -> None:
    books = ledger()
    books.apply_fill("mm", PERP_MARKET, "t1", Side.BUY, D(100), D(3), D(0), None)
    books.apply_fill("arb", PERP_MARKET, "t2", Side.SELL, D(110), D(1), D(0), None)
    # The venue closed 1 of the aggregate long (+10 realized); per agent nothing closed.
    assert books.expected_balances(VENUE) == {"USDT": D(10)}
    assert books.expected_positions(VENUE) == {PERP: D(2)}
    assert books.agents["mm"].cash == {}
    assert books.agents["arb"].cash == {}
    assert books.conservation_errors() == []
    books.apply_fill("arb", PERP_MARKET, "t3", Side.BUY, D(90), D(1), D("0.05"), "USDT")
    assert books.agents["arb"].realized[(VENUE, "USDT")] == D(20)
    assert books.conservation_errors() == []


def test_conservation_when_a_book_is_tampered_with_then_reported() -> None:
    books = ledger()
    books.apply_fill("mm", PERP_MARKET, "t1", Side.BUY, D(100), D(1), D(0), None)
    books.agents["mm"].positions[(VENUE, PERP)].contracts += D("0.001")
    assert any("contracts" in error for error in books.conservation_errors())


def test_funding_when_split_then_agents_plus_house_equal_the_venue_payment() -> None:
    books = ledger()
    books.apply_fill("mm", PERP_MARKET, "t1", Side.BUY, D(100), D("0.333"), D(0), None)
    books.apply_fill("arb", PERP_MARKET, "t2", Side.BUY, D(100), D("0.334"), D(0), None)
    rate, mark = D("0.0001"), D("100.07")
    payments = books.funding_payments(VENUE, PERP, rate, mark)
    total = books.venue_funding(VENUE, PERP, rate, mark)
    assert set(payments) == {"mm", "arb"}
    assert all(p < 0 for p in payments.values())  # longs pay a positive rate
    books.apply_funding(VENUE, "USDT", payments, total)
    assert books.expected_balances(VENUE)["USDT"] == total
    house = books.agents[HOUSE].funding.get((VENUE, "USDT"), D(0))
    assert sum(payments.values()) + house == total
    assert books.conservation_errors() == []


def test_budget_when_negative_then_refused() -> None:
    with pytest.raises(InvalidValue):
        ledger().set_budget("mm", D(-1))


def test_free_when_reserved_and_used_then_budget_minus_both() -> None:
    books = ledger()
    books.set_budget("mm", D(1000))
    books.reserve("mm", D(150))
    books.apply_fill("mm", SPOT_MARKET, "t1", Side.BUY, D(100), D(2), D("0.2"), "USDT")
    books.apply_fill("mm", PERP_MARKET, "t2", Side.SELL, D(100), D(1), D("0.05"), "USDT")
    # used: 200.2 of spot bought and its fee, 100 of perp basis, 0.05 of perp fee
    assert books.free("mm") == D(1000) - D(150) - D("300.25")


def test_view_when_marked_then_unrealized_pnl_and_equity() -> None:
    books = ledger()
    books.set_budget("mm", D(1000))
    books.apply_fill("mm", PERP_MARKET, "t1", Side.SELL, D(100), D(2), D(0), None)
    books.marks[(VENUE, PERP)] = D(90)
    view = books.view("mm")
    assert view.unrealized == D(20)
    assert view.pnl == D(20)
    assert view.equity == D(1020)
    assert view.positions[0].entry_price == D(100)


def test_corrections_when_booked_then_house_absorbs_and_conservation_holds() -> None:
    books = ledger()
    books.correct_balance(VENUE, "USDT", D(5000))
    books.apply_fill("mm", PERP_MARKET, "t1", Side.BUY, D(100), D(1), D(0), None)
    books.correct_position(VENUE, PERP, D("0.004"), D(101))
    books.correct_position(VENUE, PERP, D("-0.002"), D(99))
    assert books.expected_positions(VENUE) == {PERP: D("1.002")}
    assert books.agents[HOUSE].cash[(VENUE, "USDT")] == D(5000) + (
        books.agents[HOUSE].realized.get((VENUE, "USDT"), D(0))
    )
    assert books.conservation_errors() == []


# -- THE MIRROR BOOKS AS THE PAPER VENUE DOES ---------------------------------

_trades = st.lists(
    st.tuples(
        st.sampled_from([1, -1]),
        st.integers(min_value=1, max_value=5000).map(lambda n: D(n) / 1000),
        st.integers(min_value=1, max_value=10**6).map(lambda n: D(n) / 10),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(_trades)
def test_holding_when_trading_then_books_like_the_paper_venue(
    trades: list[tuple[int, Decimal, Decimal]],
) -> None:
    ours = Holding()
    venue = PositionState(PERP, "USDT", D(1), D("0.004"), D(10))
    for sign, amount, price in trades:
        pnl = ours.trade(sign * amount, price, D(1), STEP)
        assert pnl == venue.apply_fill(sign, amount, price, STEP)
        assert ours.contracts == venue.contracts
        assert ours.basis == venue.basis


def test_funding_when_venue_rounds_differently_then_house_takes_the_remainder() -> None:
    books = ledger()
    books.apply_fill("mm", PERP_MARKET, "t1", Side.BUY, D(100), D("0.001"), D(0), None)
    books.apply_fill("arb", PERP_MARKET, "t2", Side.BUY, D(100), D("0.001"), D(0), None)
    books.apply_funding(VENUE, "USDT", {"mm": D("-0.004"), "arb": D("-0.004")}, D("-0.009"))
    assert books.agents[HOUSE].funding == {(VENUE, "USDT"): D("-0.001")}
    assert books.expected_balances(VENUE)["USDT"] == D("-0.009")
    assert books.conservation_errors() == []
