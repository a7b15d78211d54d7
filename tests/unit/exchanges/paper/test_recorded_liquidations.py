"""Recorded liquidations in the paper venue: they switch the model off and are published once.

Issue 11: with the model on, the venue ignored recorded prints while the runner and the
feed actor still forwarded them to the agents, so an agent counted both. Now the first
recorded print switches the model off for good, and the venue publishes every print it
takes as the market's (its own events), so the agents get liquidations from the venue only.
"""

from __future__ import annotations

from decimal import Decimal

from core.events import Liquidation, TradeTick
from tests.unit.exchanges.paper.helpers import PERP, D, make_venue, standard_book


def _recorded(ts: int, price: str = "99", amount: str = "2") -> Liquidation:
    return Liquidation(ts, "binance", PERP, "sell", D(price), D(amount), "recorded")


def test_recorded_print_when_model_on_then_model_switched_off_at_its_time() -> None:
    venue = make_venue(model=True)
    venue.on_market_event(standard_book())
    assert venue.liquidation_model is not None
    assert venue.liquidation_source().startswith("model")
    made = venue.on_market_event(_recorded(2_000_000))
    assert venue.liquidation_model is None
    assert venue.model_off_ns == 2_000_000
    assert venue.liquidation_source().startswith("recorded (the model was switched off")
    assert made == [_recorded(2_000_000)]  # published by the venue, once


def test_after_switch_when_price_crashes_then_no_model_print_is_made() -> None:
    venue = make_venue(model=True)
    venue.on_market_event(standard_book())
    venue.on_market_event(_recorded(2_000_000))
    made = []
    for i, price in enumerate(("90", "70", "50", "30")):
        made += venue.on_market_event(
            TradeTick(3_000_000 + i, "binance", PERP, D(price), D("0.1"), "sell")
        )
    assert not [e for e in made if isinstance(e, Liquidation) and e.source == "model"]
    assert venue.stats()["model_liquidations"] == 0


def test_model_on_when_price_crashes_then_model_prints_are_made() -> None:
    # The counterpart of the test above: without a recorded print the model does print.
    venue = make_venue(model=True)
    venue.on_market_event(standard_book())
    made = []
    for i, price in enumerate(("90", "70", "50", "30")):
        made += venue.on_market_event(
            TradeTick(3_000_000 + i, "binance", PERP, D(price), D("0.1"), "sell")
        )
    assert [e for e in made if isinstance(e, Liquidation) and e.source == "model"]


def test_model_print_when_fed_back_from_outside_then_ignored_and_not_published() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    fed = Liquidation(2, "binance", PERP, "sell", D(99), D(2), "model")
    assert venue.on_market_event(fed) == []
    assert venue.order_book(PERP).bids[0] == (D(100), D(1))


def test_recorded_print_when_model_off_then_published_and_swept() -> None:
    venue = make_venue()
    venue.on_market_event(standard_book())
    made = venue.on_market_event(_recorded(2))
    assert made == [_recorded(2)]
    assert venue.order_book(PERP).bids[0] == (D(99), D(1))  # 100 taken whole, 99 in part
    assert venue.liquidation_source() == "recorded"
    assert Decimal(venue.stats()["recorded_liquidations"]) == 1
