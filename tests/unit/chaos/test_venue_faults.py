"""The venue actor's fault switch, without Ray (the actor class is plain): off by default, each fault real.

A lost ack must leave the order placed at the venue; a timeout or a 5xx must
leave nothing; "not found" must hide a placed order from lookups by client
order id for a while; clearing must restore the plain venue and report counts.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.config import PaperConfig
from core.errors import ExchangeUnavailable, InvalidOrder, OrderNotFound, RequestTimeout
from core.events import TopOfBook
from core.models import OrderRequest, OrderType, Side
from exchanges.paper_actor import VenueActor

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
def venue() -> VenueActor:
    actor = VenueActor("binance", PaperConfig(starting_balances={"USDT": Decimal(1_000_000)}))
    book = TopOfBook(
        1_700_000_000_000_000_000,
        "binance",
        SYMBOL,
        Decimal("60000.0"),
        Decimal(50),
        Decimal("60000.1"),
        Decimal(50),
    )
    actor.on_market_events([book])
    return actor


def resting(cid: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        symbol=SYMBOL,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("0.01"),
        price=Decimal("50000.0"),
        post_only=True,
    )


def cids(venue: VenueActor) -> list[str | None]:
    return [o.client_order_id for o in venue.all_orders()]


def test_venue_when_no_faults_set_then_orders_pass_and_stats_inactive(venue: VenueActor) -> None:
    assert venue.create_order(resting("swA")).client_order_id == "swA"
    assert venue.fault_stats() == {"active": False, "counts": {}}


def test_venue_when_lost_ack_then_order_placed_but_caller_gets_timeout(venue: VenueActor) -> None:
    venue.set_faults({"lost_ack": 1.0})
    with pytest.raises(RequestTimeout) as caught:
        venue.create_order(resting("swLost"))
    assert caught.value.client_order_id == "swLost"
    assert cids(venue) == ["swLost"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [("timeout", RequestTimeout), ("server_error", ExchangeUnavailable), ("reject", InvalidOrder)],
)
def test_venue_when_create_fails_before_sending_then_nothing_placed(
    venue: VenueActor, fault: str, error: type[Exception]
) -> None:
    venue.set_faults({fault: 1.0})
    with pytest.raises(error):
        venue.create_order(resting("swNone"))
    assert cids(venue) == []


def test_venue_when_not_found_then_lookups_by_cid_fail_twice_then_find(venue: VenueActor) -> None:
    venue.set_faults({"not_found": 1.0, "not_found_queries": 2})
    venue.create_order(resting("swHid"))
    assert venue.fetch_open_orders(SYMBOL) == []
    for _ in range(2):
        with pytest.raises(OrderNotFound):
            venue.fetch_order(SYMBOL, None, "swHid")
    assert venue.fetch_order(SYMBOL, None, "swHid").client_order_id == "swHid"


def test_venue_when_outage_then_orders_and_reads_fail_but_account_and_views_answer(
    venue: VenueActor,
) -> None:
    venue.create_order(resting("swBefore"))
    venue.set_faults({"outage_s": 600})
    with pytest.raises(ExchangeUnavailable):
        venue.create_order(resting("swDuring"))
    with pytest.raises(ExchangeUnavailable):
        venue.fetch_my_trades()
    assert venue.fetch_balance().total("USDT") == Decimal(1_000_000)
    assert cids(venue) == ["swBefore"]
    stats = venue.clear_faults()
    assert stats["counts"]["outage"] == 2
    assert venue.create_order(resting("swAfter")).client_order_id == "swAfter"


def test_venue_when_spec_replaced_then_counts_add_up_across_specs(venue: VenueActor) -> None:
    venue.set_faults({"server_error": 1.0})
    with pytest.raises(ExchangeUnavailable):
        venue.fetch_order(SYMBOL, None, "swX")
    venue.set_faults({"server_error": 1.0, "seed": 2})
    with pytest.raises(ExchangeUnavailable):
        venue.fetch_order(SYMBOL, None, "swX")
    assert venue.fault_stats()["counts"]["server_error"] == 2
    assert venue.clear_faults()["counts"]["server_error"] == 2
    assert venue.fault_stats()["active"] is False
