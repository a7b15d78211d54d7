from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.book import OrderBook
from core.clock import Clock, RealClock, SimulatedClock
from core.errors import InvalidValue
from core.ids import agent_id, client_order_id, venue_name


def test_simulated_clock_when_advanced_then_moves_and_never_back() -> None:
    clock = SimulatedClock(5_000_000)
    assert isinstance(clock, Clock)
    assert clock.now_ms() == 5
    clock.advance(1_000_000)
    clock.advance_to(6_000_000)
    assert clock.now_ns() == 6_000_000
    with pytest.raises(InvalidValue, match="before"):
        clock.advance_to(1)
    with pytest.raises(InvalidValue):
        clock.advance(-1)


def test_real_clock_when_read_then_ns_and_ms_agree() -> None:
    clock = RealClock()
    ns, ms = clock.now_ns(), clock.now_ms()
    assert abs(ns // 1_000_000 - ms) < 1_000


@pytest.mark.parametrize("good", ["a", "A1b2", "x" * 32])
def test_client_order_id_when_format_ok_then_accepted(good: str) -> None:
    assert client_order_id(good) == good


@pytest.mark.parametrize("bad", ["", "x" * 33, "a-b", "a_b", "a b", "é"])
def test_client_order_id_when_bad_then_invalid_value(bad: str) -> None:
    with pytest.raises(InvalidValue, match="client_order_id"):
        client_order_id(bad)


def test_names_when_bad_then_refused() -> None:
    assert venue_name("binance") == "binance"
    assert agent_id("funding-arb") == "funding-arb"
    with pytest.raises(InvalidValue, match="venue"):
        venue_name("Binance")
    with pytest.raises(InvalidValue, match="agent_id"):
        agent_id("")


def D(x: str | int) -> Decimal:
    return Decimal(x)


def test_book_when_levels_applied_then_best_first_and_zero_removes() -> None:
    book = OrderBook("binance", "BTC/USDT")
    book.apply([(D(100), D(1)), (D(99), D(2))], [(D(101), D(3)), (D(102), D(4))], snapshot=True)
    assert book.best_bid() == (D(100), D(1))
    assert book.best_ask() == (D(101), D(3))
    assert book.mid() == D("100.5")
    book.apply([(D(100), D(0))], [(D(101), D(0)), (D("101.5"), D(1))])
    assert book.best_bid() == (D(99), D(2))
    assert book.asks.levels(2) == [(D("101.5"), D(1)), (D(102), D(4))]
    assert list(book.bids) == [(D(99), D(2))]
    book.apply([(D(98), D(0))], [])  # removing an absent level is a no-op
    assert len(book.bids) == 1
    assert not book.is_crossed()
    book.apply([], [], snapshot=True)
    assert book.best_bid() is None and book.mid() is None


def test_book_when_negative_amount_or_price_then_refused() -> None:
    book = OrderBook("binance", "BTC/USDT")
    with pytest.raises(InvalidValue, match="negative"):
        book.apply([(D(100), D(-1))], [])
    with pytest.raises(InvalidValue, match="price"):
        book.apply([(D(0), D(1))], [])


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 3)), max_size=200))
def test_book_property_when_random_updates_then_equals_dict_model(
    updates: list[tuple[int, int]],
) -> None:
    book = OrderBook("v", "s")
    model: dict[int, int] = {}
    for price, amount in updates:
        book.apply([(D(price), D(amount))], [])
        if amount:
            model[price] = amount
        else:
            model.pop(price, None)
    assert book.bids.levels() == [(D(p), D(model[p])) for p in sorted(model, reverse=True)]
