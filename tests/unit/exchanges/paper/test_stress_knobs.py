"""The paper venue's stress knobs: fees scaled, taker fills slipped (backtest.stress uses them)."""

from __future__ import annotations

from tests.unit.exchanges.paper.helpers import D, make_venue, request, standard_book


def test_taker_fee_when_fee_multiplier_two_then_fee_doubled() -> None:
    base = make_venue()
    doubled = make_venue(fee_multiplier=D(2))
    for venue in (base, doubled):
        venue.on_market_event(standard_book())
    plain = base.submit(request("a", "buy", "1"))
    stressed = doubled.submit(request("a", "buy", "1"))
    assert plain.fee is not None and stressed.fee is not None
    assert stressed.fee.cost == 2 * plain.fee.cost == D(101) * D("0.0005") * 2
    assert doubled.markets()["BTC/USDT:USDT"].maker_fee == D("0.0004")
    assert doubled.check_conservation() == []


def test_market_buy_when_slippage_then_each_level_priced_worse_on_the_tick() -> None:
    venue = make_venue(taker_slippage_bps=D(10))  # 0.1 %
    venue.on_market_event(standard_book())
    order = venue.submit(request("a", "buy", "3"))  # 1 @ 101, 2 @ 102
    assert order.filled == D(3)
    assert order.average is not None
    # 101 * 1.001 = 101.101 and 102 * 1.001 = 102.102, each rounded up to the 0.1 tick
    assert order.average == (D("101.2") + 2 * D("102.2")) / 3
    assert order.average > (D(101) + 2 * D(102)) / 3
    assert venue.check_conservation() == []


def test_market_sell_when_slippage_then_priced_lower() -> None:
    venue = make_venue(taker_slippage_bps=D(10))
    venue.on_market_event(standard_book())
    order = venue.submit(request("a", "sell", "1"))
    assert order.average is not None and order.average < D(100)


def test_resting_limit_when_slippage_then_maker_fill_unchanged() -> None:
    from core.events import TradeTick

    venue = make_venue(taker_slippage_bps=D(50))
    venue.on_market_event(standard_book())
    placed = venue.submit(request("m", "buy", "2", "99.5"))
    venue.on_market_event(TradeTick(2_000_000, "binance", "BTC/USDT:USDT", D(99), D(5), "sell"))
    order = venue.get_order("BTC/USDT:USDT", id=placed.id)
    assert order.filled == D(2) and order.average == D("99.5")
