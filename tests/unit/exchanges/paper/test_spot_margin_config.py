"""Spot margin from the run's config: the paper venue lends and the gateway lets a spot short through.

``[paper] spot_margin_venues`` switches the venue's spot margin on (off by default) and
``risk.limits.limits_of`` names the same venues to the gateway's risk checks, so the two
cannot disagree (a venue that lends while the gateway denies every short, or the reverse).
"""

from __future__ import annotations

from decimal import Decimal

from core.clock import SimulatedClock
from core.config import PaperConfig, SwarmConfig
from exchanges.paper.venue import PaperVenue
from risk.limits import limits_of


def test_spot_margin_when_paper_names_a_venue_then_that_venue_lends_and_the_gateway_allows() -> (
    None
):
    paper = PaperConfig(
        spot_margin_venues=("bybit",), spot_borrow_rate_per_hour={"BTC": Decimal("0.00001")}
    )
    config = SwarmConfig(paper=paper)
    bybit = PaperVenue.from_paper_config("bybit", SimulatedClock(), paper)
    binance = PaperVenue.from_paper_config("binance", SimulatedClock(), paper)
    assert bybit._config.spot_margin.enabled
    assert bybit._config.spot_margin.rate_of("BTC") == Decimal("0.00001")
    assert not binance._config.spot_margin.enabled
    assert limits_of(config).spot_borrow_venues == frozenset({"bybit"})


def test_spot_margin_when_not_configured_then_off_everywhere() -> None:
    config = SwarmConfig()
    venue = PaperVenue.from_paper_config("bybit", SimulatedClock(), config.paper)
    assert not venue._config.spot_margin.enabled
    assert limits_of(config).spot_borrow_venues == frozenset()
