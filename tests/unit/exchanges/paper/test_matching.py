from __future__ import annotations

import pytest

from core.errors import InvalidOrder, InvalidValue, NotSupported
from core.events import Bar, Liquidation, TopOfBook, TradeTick
from core.models import OrderStatus, TakerOrMaker, TimeInForce
from tests.unit.exchanges.paper.helpers import (
    HL_PERP,
    PERP,
    SPOT,
    D,
    levels,
    make_venue,
    request,
    snapshot,
    standard_book,
)

# -- MARKET ORDERS ----------------------------------------------------------


def test_market_buy_when_book_has_depth_then_walks_levels_at_vwap() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    order = venue.submit(request("m1", "buy", "2.5"))
    assert order.status is OrderStatus.CLOSED
    assert order.filled == D("2.5")
    assert order.cost == D(101) + D("1.5") * D(102)
    assert order.average == (D(101) + D("1.5") * D(102)) / D("2.5")
    trades = venue.my_trades(PERP)
    assert [(t.price, t.amount) for t in trades] == [(D(101), D(1)), (D(102), D("1.5"))]
    assert all(t.taker_or_maker is TakerOrMaker.TAKER for t in trades)
    assert venue.order_book(PERP).asks[:2] == ((D(102), D("0.5")), (D(103), D(3)))


def test_market_buy_when_consumption_off_then_book_unchanged() -> None:
    venue = make_venue(consume_book_liquidity=False)
    venue.on_market_event(standard_book())
    venue.submit(request("m1", "buy", "2.5"))
    assert venue.order_book(PERP).asks[0] == (D(101), D(1))


@pytest.mark.parametrize(
    ("name", "status"), [("binance", OrderStatus.EXPIRED), ("bybit", OrderStatus.CANCELED)]
)
def test_market_buy_when_book_runs_out_then_rest_dropped_with_venue_status(
    name: str, status: OrderStatus
) -> None:
    venue = make_venue(name)
    venue.on_market_event(standard_book(name))
    order = venue.submit(request("m1", "buy", "10"))
    assert order.filled == D(6)
    assert order.status is status
    assert venue.open_orders() == []
    assert venue.check_conservation() == []


def test_market_order_when_hyperliquid_matches_nothing_then_refused() -> None:
    venue = make_venue("hyperliquid")
    venue.on_market_event(snapshot("hyperliquid", HL_PERP, levels(("60000", "1")), levels(), 1))
    before = venue.balances()
    with pytest.raises(InvalidOrder, match="could not match"):
        venue.submit(request("m1", "buy", "0.01", symbol=HL_PERP))
    assert venue.balances() == before
    assert venue.stats()["rejections"] == 1


def test_market_order_when_no_market_data_then_invalid_order() -> None:
    venue = make_venue()
    with pytest.raises(InvalidOrder, match="no market data"):
        venue.submit(request("m1", "buy", "1"))


def test_hyperliquid_when_fok_requested_then_not_supported() -> None:
    venue = make_venue("hyperliquid")
    venue.on_market_event(
        snapshot("hyperliquid", HL_PERP, levels(("60000", "1")), levels(("60001", "1")), 1)
    )
    with pytest.raises(NotSupported, match="FOK"):
        venue.submit(request("f1", "buy", "0.01", "60001", symbol=HL_PERP, time_in_force="FOK"))


# -- LIMIT ORDERS -----------------------------------------------------------


def test_limit_buy_when_marketable_and_gtc_then_takes_up_to_price_and_rests_rest() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    order = venue.submit(request("l1", "buy", "4", "102"))
    assert order.status is OrderStatus.OPEN
    assert order.filled == D(3)
    assert order.cost == D(101) + 2 * D(102)
    assert [o.id for o in venue.open_orders(PERP)] == [order.id]
    # the resting rest locks initial margin for one contract at 102 / leverage 5
    assert venue.balances().assets["USDT"].used > 0


def test_limit_buy_when_ioc_then_takes_what_crosses_and_drops_rest() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    order = venue.submit(request("l1", "buy", "4", "102", time_in_force="IOC"))
    assert order.filled == D(3)
    assert order.status is OrderStatus.EXPIRED
    assert venue.open_orders() == []
    assert venue.check_conservation() == []


@pytest.mark.parametrize("name", ["binance", "bybit", "okx"])
def test_limit_buy_when_fok_not_fully_fillable_then_nothing_fills(name: str) -> None:
    venue = make_venue(name)
    venue.on_market_event(standard_book(name))
    before = venue.balances()
    order = venue.submit(request("f1", "buy", "4", "102", time_in_force="FOK"))
    assert order.filled == 0
    assert order.status is venue.rules.kill_status
    assert venue.open_orders() == []
    assert venue.my_trades() == []
    assert venue.check_conservation() == []
    assert venue.balances() == before
    assert venue.order_book(PERP).asks[0] == (D(101), D(1))


def test_limit_buy_when_fok_fully_fillable_then_closed() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    order = venue.submit(request("f1", "buy", "3", "102", time_in_force="FOK"))
    assert (order.status, order.filled) == (OrderStatus.CLOSED, D(3))


def test_resting_buy_when_trade_prints_through_then_fills_at_limit_as_maker() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    order = venue.submit(request("r1", "buy", "1", "100"))  # behind the book's 1 at 100
    assert order.status is OrderStatus.OPEN and order.filled == 0
    venue.on_market_event(TradeTick(2_000_000, "binance", PERP, D("100"), D("0.5"), "sell"))
    assert venue.get_order(PERP, id=order.id).filled == 0  # at the price: the queue absorbs it
    venue.on_market_event(TradeTick(3_000_000, "binance", PERP, D("99.9"), D("0.3"), "sell"))
    after = venue.get_order(PERP, id=order.id)
    assert after.filled == D("0.3") and after.status is OrderStatus.OPEN
    (trade,) = venue.my_trades()
    assert trade.price == D("100")
    assert trade.taker_or_maker is TakerOrMaker.MAKER
    assert trade.fee is not None and trade.fee.cost == D("100") * D("0.3") * D("0.0002")
    assert trade.timestamp == 3


def test_resting_buy_when_fill_at_touch_then_print_at_price_fills() -> None:
    venue = make_venue(fill_at_touch=True)
    venue.on_market_event(standard_book())
    order = venue.submit(request("r1", "buy", "1", "100.5"))
    venue.on_market_event(TradeTick(2_000_000, "binance", PERP, D("100.5"), D(5), "sell"))
    assert venue.get_order(PERP, id=order.id).status is OrderStatus.CLOSED


def test_resting_orders_when_trade_smaller_than_both_then_best_price_first() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    low = venue.submit(request("r1", "buy", "1", "100.2"))
    high = venue.submit(request("r2", "buy", "1", "100.6"))
    venue.on_market_event(TradeTick(2_000_000, "binance", PERP, D("100.1"), D("1.5"), "sell"))
    assert venue.get_order(PERP, id=high.id).filled == D(1)
    assert venue.get_order(PERP, id=low.id).filled == D("0.5")


def test_resting_sell_when_bar_high_crosses_then_fills_up_to_participation() -> None:
    venue = make_venue(bar_participation=D("0.1"))
    venue.on_market_event(standard_book())
    order = venue.submit(request("r1", "sell", "2", "101.5"))
    bar = Bar(60_000_000_000, "binance", PERP, D(100), D(102), D("99.5"), D(101), D(7), 60)
    venue.on_market_event(bar)
    assert venue.get_order(PERP, id=order.id).filled == D("0.7")
    venue.on_market_event(
        Bar(120_000_000_000, "binance", PERP, D(100), D("101.5"), D(99), D(100), D(50), 60)
    )
    assert venue.get_order(PERP, id=order.id).filled == D("0.7")  # high only touched
    venue.on_market_event(
        Bar(180_000_000_000, "binance", PERP, D(101), D(104), D(100), D(103), D(50), 60)
    )
    assert venue.get_order(PERP, id=order.id).status is OrderStatus.CLOSED
    assert venue.check_conservation() == []


def test_resting_buy_when_bar_low_crosses_then_fills_and_sell_side_untouched() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    buy = venue.submit(request("b1", "buy", "1", "100.5"))
    sell = venue.submit(request("s1", "sell", "1", "110"))
    venue.on_market_event(
        Bar(60_000_000_000, "binance", PERP, D(100), D(101), D(99), D(100), D(100), 60)
    )
    assert venue.get_order(PERP, id=buy.id).status is OrderStatus.CLOSED
    assert venue.get_order(PERP, id=sell.id).filled == 0


def test_cancel_when_resting_then_lock_released_and_second_cancel_not_found() -> None:
    from core.errors import OrderNotFound

    venue = make_venue()
    venue.on_market_event(standard_book())
    before = venue.balances()
    order = venue.submit(request("c1", "buy", "1", "100.2"))
    assert venue.balances() != before
    canceled = venue.cancel(PERP, client_order_id="c1")
    assert canceled.status is OrderStatus.CANCELED
    assert venue.balances() == before
    with pytest.raises(OrderNotFound):
        venue.cancel(PERP, id=order.id)


# -- POST-ONLY ----------------------------------------------------------------


def test_post_only_when_not_crossing_then_rests() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    order = venue.submit(request("p1", "buy", "1", "100.5", post_only=True))
    assert order.status is OrderStatus.OPEN and order.post_only


@pytest.mark.parametrize(
    ("name", "symbol", "status"),
    [
        ("binance", PERP, OrderStatus.EXPIRED),
        ("bybit", PERP, OrderStatus.CANCELED),
        ("okx", PERP, OrderStatus.CANCELED),
        ("bybit", SPOT, OrderStatus.CANCELED),
    ],
)
def test_post_only_when_it_would_take_then_order_closed_with_venue_status(
    name: str, symbol: str, status: OrderStatus
) -> None:
    venue = make_venue(name)
    venue.on_market_event(standard_book(name, symbol))
    before = venue.balances()
    order = venue.submit(request("p1", "buy", "1", "101", symbol=symbol, post_only=True))
    assert (order.status, order.filled) == (status, D(0))
    assert venue.balances() == before
    assert venue.my_trades() == [] and venue.open_orders() == []
    assert venue.check_conservation() == []


@pytest.mark.parametrize(("name", "symbol"), [("binance", SPOT), ("hyperliquid", HL_PERP)])
def test_post_only_when_it_would_take_then_refused_with_invalid_order(
    name: str, symbol: str
) -> None:
    venue = make_venue(name)
    venue.on_market_event(standard_book(name, symbol))
    with pytest.raises(InvalidOrder, match="post-only"):
        venue.submit(request("p1", "buy", "1", "101", symbol=symbol, time_in_force=TimeInForce.PO))
    assert venue.open_orders() == []


# -- REDUCE-ONLY ----------------------------------------------------------------


def test_reduce_only_when_no_position_then_refused() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    with pytest.raises(InvalidOrder, match="reduce-only"):
        venue.submit(request("r1", "sell", "1", reduce_only=True))


def test_reduce_only_when_it_would_increase_then_refused() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))
    with pytest.raises(InvalidOrder, match="reduce-only"):
        venue.submit(request("r1", "buy", "1", reduce_only=True))


def test_reduce_only_when_larger_than_position_then_cut_to_position_size() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))
    order = venue.submit(request("r1", "sell", "3", reduce_only=True))
    assert order.amount == D(1) and order.filled == D(1)
    assert venue.positions() == []


def test_reduce_only_resting_when_position_closed_elsewhere_then_canceled_on_cross() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))
    resting = venue.submit(request("r1", "sell", "1", "105", reduce_only=True))
    venue.submit(request("c1", "sell", "1"))  # flat now
    venue.on_market_event(TradeTick(2_000_000, "binance", PERP, D(106), D(5), "buy"))
    after = venue.get_order(PERP, id=resting.id)
    assert (after.status, after.filled) == (OrderStatus.CANCELED, D(0))
    assert venue.positions() == []


def test_reduce_only_when_spot_then_invalid_value() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book(symbol=SPOT))
    with pytest.raises(InvalidValue, match="reduce_only"):
        venue.submit(request("r1", "sell", "1", symbol=SPOT, reduce_only=True))


# -- FEES AND SPOT CASH ---------------------------------------------------------


def test_spot_buy_when_filled_then_base_credited_and_quote_pays_cost_plus_fee() -> None:
    venue = make_venue(balances={"USDT": D(1000)})
    venue.on_market_event(standard_book(symbol=SPOT))
    venue.submit(request("s1", "buy", "2", symbol=SPOT))
    assets = venue.balances().assets
    cost = D(101) + D(102)
    assert assets["BTC"].total == D(2)
    assert assets["USDT"].total == D(1000) - cost - cost * D("0.001")
    assert venue.check_conservation() == []


def test_spot_sell_limit_when_resting_then_base_locked_until_filled() -> None:
    venue = make_venue(balances={"BTC": D(1)})
    venue.on_market_event(standard_book(symbol=SPOT))
    venue.submit(request("s1", "sell", "1", "105", symbol=SPOT))
    assert venue.balances().assets["BTC"].free == 0
    venue.on_market_event(TradeTick(2_000_000, "binance", SPOT, D(106), D(3), "buy"))
    assets = venue.balances().assets
    assert assets["BTC"].total == 0 and assets["BTC"].used == 0
    assert assets["USDT"].total == D(105) - D(105) * D("0.001")  # maker 0.1% on spot


def test_okx_swap_when_filled_then_cost_and_fee_use_contract_size() -> None:
    venue = make_venue("okx")
    venue.on_market_event(standard_book("okx"))
    order = venue.submit(request("o1", "buy", "1"))
    assert order.cost == D(101) * D("0.01")
    assert order.fee is not None and order.fee.cost == D(101) * D("0.01") * D("0.0005")
    (position,) = venue.positions()
    assert position.contracts == D(1) and position.contract_size == D("0.01")
    assert position.entry_price == D(101)


def test_perp_round_trip_when_price_rises_then_realized_pnl_minus_fees_in_cash() -> None:
    venue = make_venue(balances={"USDT": D(10_000)})
    venue.on_market_event(standard_book())
    venue.submit(request("o1", "buy", "1"))  # 101
    venue.on_market_event(
        snapshot("binance", PERP, levels(("110", "5")), levels(("111", "5")), 2_000_000)
    )
    venue.submit(request("c1", "sell", "1"))  # 110
    fees = (D(101) + D(110)) * D("0.0005")
    assert venue.balances().assets["USDT"].total == D(10_000) + D(9) - fees
    kinds = [e.kind.value for e in venue.ledger()]
    assert kinds.count("realized_pnl") == 1 and kinds.count("fee") == 2


# -- BOOK FROM QUOTES, FORCED ORDERS ----------------------------------------------


def test_top_of_book_when_no_depth_then_one_level_book_else_depth_kept_below_it() -> None:
    venue = make_venue()
    venue.on_market_event(TopOfBook(1, "binance", PERP, D(100), D(2), D(101), D(3)))
    book = venue.order_book(PERP)
    assert (book.bids, book.asks) == (((D(100), D(2)),), ((D(101), D(3)),))
    venue.on_market_event(standard_book(ts_ns=2))
    venue.submit(request("o1", "buy", "1"))  # takes the 101 ask: the book's mid is 101
    assert venue.positions()[0].mark_price == D(101)
    venue.on_market_event(TopOfBook(3, "binance", PERP, D("99.5"), D(1), D("100.5"), D(1)))
    # The newer quote says the bid at 100 is gone (issue 11: a depth stream lagging the
    # bookTicker left stale levels); the levels behind the quote stay.
    assert venue.order_book(PERP).bids[0] == (D(99), D(2))
    assert len(venue.order_book(PERP).asks) == 2
    assert venue.positions()[0].mark_price == D(100)  # the quote's mid marks the price


def test_recorded_liquidation_when_model_off_then_hits_book_and_our_bids() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    ours = venue.submit(request("b1", "buy", "1", "100.5"))
    venue.on_market_event(Liquidation(2, "binance", PERP, "sell", D(99), D(2), "recorded"))
    book = venue.order_book(PERP)
    assert book.bids == ((D(99), D(1)), (D(98), D(3)))  # 100 taken whole, 99 in part
    assert venue.get_order(PERP, id=ours.id).status is OrderStatus.CLOSED
    assert venue.stats()["recorded_liquidations"] == 1


def test_recorded_liquidation_when_model_on_then_the_model_is_switched_off_and_it_hits_the_book() -> (
    None
):
    # Issue 11: recorded prints are the truth; more in test_recorded_liquidations.py.
    venue = make_venue(model=True)
    venue.on_market_event(standard_book())
    venue.on_market_event(Liquidation(2, "binance", PERP, "sell", D(99), D(2), "recorded"))
    assert venue.order_book(PERP).bids[0] == (D(99), D(1))  # 100 taken whole, 99 in part
    assert venue.stats()["recorded_liquidations"] == 1
    assert venue.liquidation_model is None


def test_events_when_other_venue_or_unknown_symbol_then_ignored() -> None:
    venue = make_venue()
    venue.on_market_events(
        [standard_book("bybit"), standard_book("binance", "SOL/USDT:USDT"), standard_book()]
    )
    stats = venue.stats()
    assert (stats["ignored_events"], stats["book_updates"], stats["books_seen"]) == (2, 1, 1)


def test_fill_timestamps_when_clock_behind_events_then_event_time_used() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book(ts_ns=5_000_000_000))
    order = venue.submit(request("t1", "buy", "1"))
    assert order.timestamp == 5_000 and venue.my_trades()[0].timestamp == 5_000
