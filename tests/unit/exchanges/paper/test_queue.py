"""Queue position of our resting limits in the paper venue (exchanges/paper/queue.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.events import Bar, BookDelta, TopOfBook, TradeTick
from core.models import OrderStatus
from exchanges.paper.queue import QueueModelConfig, cancelled_ahead, on_depth
from exchanges.paper.venue import PaperVenue
from tests.unit.exchanges.paper.helpers import PERP, D, levels, make_venue, request, snapshot


def _book(bid_amount: str = "2") -> BookDelta:
    """Bids 100 (``bid_amount``) / 99; asks 101 / 102."""
    return snapshot(
        "binance",
        PERP,
        levels(("100", bid_amount), ("99", "2")),
        levels(("101", "2"), ("102", "2")),
    )


def _sell(ts: int, price: str, amount: str) -> TradeTick:
    return TradeTick(ts, "binance", PERP, D(price), D(amount), "sell")


def _bids(ts: int, *pairs: tuple[str, str]) -> BookDelta:
    return BookDelta(ts, "binance", PERP, levels(*pairs), ())


def _filled(venue: PaperVenue, order_id: str) -> Decimal:
    return venue.get_order(PERP, id=order_id).filled


# -- TRADES AT OUR PRICE ------------------------------------------------------


def test_trade_at_price_when_smaller_than_queue_ahead_then_no_fill() -> None:
    venue = make_venue()
    venue.on_market_event(_book("2"))
    order = venue.submit(request("q1", "buy", "1", "100"))  # 2 ahead of us
    venue.on_market_event(_sell(2_000_000, "100", "1.5"))
    assert _filled(venue, order.id) == 0
    venue.on_market_event(_sell(3_000_000, "100", "0.4"))
    assert _filled(venue, order.id) == 0  # 1.9 of the 2 ahead traded


def test_trades_at_price_when_they_exceed_queue_ahead_then_only_the_excess_fills() -> None:
    venue = make_venue()
    venue.on_market_event(_book("2"))
    order = venue.submit(request("q1", "buy", "1", "100"))
    venue.on_market_event(_sell(2_000_000, "100", "1.5"))
    venue.on_market_event(_sell(3_000_000, "100", "0.8"))  # 0.3 past the queue
    assert _filled(venue, order.id) == D("0.3")
    venue.on_market_event(_sell(4_000_000, "100", "5"))  # we are at the front now
    assert venue.get_order(PERP, id=order.id).status is OrderStatus.CLOSED
    assert venue.check_conservation() == []


def test_trade_at_price_when_aggressor_is_a_buyer_then_bid_queue_unmoved() -> None:
    venue = make_venue()
    venue.on_market_event(_book("1"))
    order = venue.submit(request("q1", "buy", "1", "100"))
    venue.on_market_event(TradeTick(2_000_000, "binance", PERP, D(100), D(5), "buy"))
    assert _filled(venue, order.id) == 0
    venue.on_market_event(_sell(3_000_000, "100", "1.5"))  # 1 ahead, then 0.5 to us
    assert _filled(venue, order.id) == D("0.5")


def test_new_level_inside_spread_when_nobody_ahead_then_first_print_fills() -> None:
    venue = make_venue()
    venue.on_market_event(_book())
    order = venue.submit(request("q1", "buy", "1", "100.5"))
    venue.on_market_event(_sell(2_000_000, "100.5", "0.6"))
    assert _filled(venue, order.id) == D("0.6")


def test_trade_through_price_when_queue_ahead_then_fills_anyway() -> None:
    venue = make_venue()
    venue.on_market_event(_book("50"))
    order = venue.submit(request("q1", "buy", "1", "100"))
    venue.on_market_event(_sell(2_000_000, "99.9", "0.7"))  # the level at 100 is gone
    assert _filled(venue, order.id) == D("0.7")


def test_second_own_order_at_same_price_when_joining_then_behind_the_first() -> None:
    venue = make_venue()
    venue.on_market_event(_book("1"))
    first = venue.submit(request("q1", "buy", "1", "100"))
    second = venue.submit(request("q2", "buy", "1", "100"))
    venue.on_market_event(_sell(2_000_000, "100", "2.5"))  # 1 book, 1 first, 0.5 second
    assert _filled(venue, first.id) == D(1)
    assert _filled(venue, second.id) == D("0.5")


# -- DEPTH CHANGES AT OUR PRICE -----------------------------------------------


def test_cancellations_when_level_shrinks_then_power_model_moves_us_up() -> None:
    venue = make_venue()
    venue.on_market_event(_book("2"))
    order = venue.submit(request("q1", "buy", "1", "100"))  # front 2, back 0
    venue.on_market_event(_bids(2_000_000, ("100", "3")))  # +1 joins behind: back 1
    venue.on_market_event(_bids(3_000_000, ("100", "1.5")))  # 1.5 cancelled
    # p(behind) = 1**3 / (1**3 + 2**3) = 1/9: 1.5 * 8/9 = 1.3333 from the front;
    # behind 1 - 1.5/9 = 0.8333 left. The front is 0.6667: a print of 0.6 does not fill.
    venue.on_market_event(_sell(4_000_000, "100", "0.6"))
    assert _filled(venue, order.id) == 0
    venue.on_market_event(_sell(5_000_000, "100", "0.2"))  # 0.1333 past the front
    assert _filled(venue, order.id) == D("0.133")


def test_level_shrink_when_explained_by_trades_then_not_counted_twice() -> None:
    venue = make_venue()
    venue.on_market_event(_book("2"))
    order = venue.submit(request("q1", "buy", "1", "100"))
    venue.on_market_event(_sell(2_000_000, "100", "1.5"))  # 0.5 ahead
    venue.on_market_event(_bids(3_000_000, ("100", "0.5")))  # the same 1.5, as depth
    venue.on_market_event(_sell(4_000_000, "100", "0.4"))
    assert _filled(venue, order.id) == 0  # still 0.1 ahead: the shrink was no cancellation


def test_risk_averse_model_when_level_shrinks_then_only_capped_to_level() -> None:
    venue = make_venue(queue=QueueModelConfig(model="risk_averse"))
    venue.on_market_event(_book("2"))
    order = venue.submit(request("q1", "buy", "1", "100"))
    venue.on_market_event(_bids(2_000_000, ("100", "5")))  # 3 join behind us
    venue.on_market_event(_bids(3_000_000, ("100", "3")))  # 2 cancelled: not from our front
    venue.on_market_event(_sell(4_000_000, "100", "1.9"))
    assert _filled(venue, order.id) == 0
    venue.on_market_event(_bids(5_000_000, ("100", "0.05")))  # fewer shown than ahead: capped
    venue.on_market_event(_sell(6_000_000, "100", "0.5"))
    assert _filled(venue, order.id) == D("0.45")


def test_level_growth_when_orders_join_then_they_queue_behind_us() -> None:
    venue = make_venue()
    venue.on_market_event(_book("1"))
    order = venue.submit(request("q1", "buy", "1", "100"))
    venue.on_market_event(_bids(2_000_000, ("100", "40")))
    venue.on_market_event(_sell(3_000_000, "100", "1.5"))
    assert _filled(venue, order.id) == D("0.5")


def test_queue_when_same_events_replayed_then_same_fills() -> None:
    def run() -> list[tuple[str, Decimal, Decimal]]:
        venue = make_venue()
        venue.on_market_event(_book("2"))
        venue.submit(request("q1", "buy", "1", "100"))
        venue.on_market_event(_bids(2_000_000, ("100", "4")))
        venue.on_market_event(_bids(3_000_000, ("100", "1.7")))
        venue.on_market_event(_sell(4_000_000, "100", "1.3"))
        return [(t.id, t.price, t.amount) for t in venue.my_trades()]

    first = run()
    assert first and first == run()


# -- BOOKS WITHOUT DEPTH, AND BARS ----------------------------------------------


def _top(ts: int, bid: str, bid_size: str, ask: str = "101", ask_size: str = "1") -> TopOfBook:
    return TopOfBook(ts, "binance", PERP, D(bid), D(bid_size), D(ask), D(ask_size))


def test_top_only_book_when_order_off_touch_then_print_at_price_waits_for_visibility() -> None:
    venue = make_venue()
    venue.on_market_event(_top(1_000_000, "100", "3"))
    order = venue.submit(request("q1", "buy", "2", "99"))  # the level at 99 is not shown
    venue.on_market_event(_sell(2_000_000, "99", "10"))
    assert _filled(venue, order.id) == 0  # unknown queue: no fill at the price
    venue.on_market_event(_top(3_000_000, "99", "2"))  # 99 becomes the touch: 2 ahead
    venue.on_market_event(_sell(4_000_000, "99", "2.5"))
    assert _filled(venue, order.id) == D("0.5")


def test_top_only_book_when_touch_moves_away_and_back_then_queue_kept() -> None:
    venue = make_venue()
    venue.on_market_event(_top(1_000_000, "100", "3"))
    order = venue.submit(request("q1", "buy", "1", "100"))  # 3 ahead
    venue.on_market_event(_top(2_000_000, "100.5", "1"))  # 100 hidden: nothing learnt
    venue.on_market_event(_top(3_000_000, "100", "5"))  # back in view, 5 shown: still 3
    venue.on_market_event(_sell(4_000_000, "100", "3.2"))
    assert _filled(venue, order.id) == D("0.2")


def test_bar_when_low_only_touches_bid_then_no_fill_and_through_fills() -> None:
    venue = make_venue()
    venue.on_market_event(_top(1_000_000, "100", "1"))
    order = venue.submit(request("q1", "buy", "2", "99"))
    touch = Bar(60_000_000_000, "binance", PERP, D(100), D(100), D(99), D(100), D(500), 60)
    venue.on_market_event(touch)
    assert _filled(venue, order.id) == 0  # a bar shows no queue: at the price is not enough
    through = Bar(120_000_000_000, "binance", PERP, D(100), D(100), D("98.9"), D(99), D(5), 60)
    venue.on_market_event(through)
    assert _filled(venue, order.id) == D("0.5")  # bar_participation 0.1 of 5


# -- THE MODEL'S ARITHMETIC -----------------------------------------------------


@pytest.mark.parametrize(
    ("front", "back", "cancelled", "expected"),
    [
        (2.0, 0.0, 1.5, 1.5),  # nobody behind: all from the front
        (2.0, 0.0, 5.0, 2.0),  # never more than the front
        (1.0, 1.0, 1.0, 0.5),  # even split
        (0.0, 3.0, 1.0, 0.0),  # at the front already
        (1.0, 2.0, 2.5, 1.0 / 9.0 * 2.5 + (2.5 * 8.0 / 9.0 - 2.0)),  # more than behind
    ],
)
def test_cancelled_ahead_when_split_by_power_three_then_expected(
    front: float, back: float, cancelled: float, expected: float
) -> None:
    assert cancelled_ahead(front, back, cancelled, 3.0) == pytest.approx(expected)


def test_on_depth_when_unknown_then_stays_unknown() -> None:
    assert on_depth(None, D(0), D(5), D(1), QueueModelConfig()) is None


# -- A DEPTH STREAM LAGGING THE BEST BID AND ASK ------------------------------------------


def test_stale_depth_when_newer_quote_is_lower_then_post_only_sell_rests_not_expires() -> None:
    venue = make_venue()
    venue.on_market_event(_book("2"))  # depth: bids 100 / 99, asks 101 / 102
    # The bookTicker moves down first; the depth stream has not caught up yet.
    venue.on_market_event(_top(2_000_000, "98", "1", "98.5", "1"))
    assert venue.order_book(PERP).bids == ()  # 100 and 99 are gone
    assert venue.order_book(PERP).asks[0] == (D(101), D(2))  # behind the quote: kept
    order = venue.submit(request("p1", "sell", "2", "99.5", post_only=True))
    assert order.status is OrderStatus.OPEN  # against the stale 100 bid it would have expired
    assert venue.stats()["stale_levels_dropped"] == 2


def test_stale_depth_when_quote_older_than_depth_then_depth_kept() -> None:
    venue = make_venue()
    venue.on_market_event(_book("2"))  # at 1 ms
    venue.on_market_event(_top(500_000, "98", "1", "98.5", "1"))  # older than the depth
    assert venue.order_book(PERP).bids[0] == (D(100), D(2))
