"""The ``venue:<name>`` actor: a thin Ray shell over one ``PaperVenue``.

Contract:
- ``on_market_events(events)``: apply a batch of market events of this venue
  (books, trades, bars, funding, marks); returns what the venue itself generated
  (model liquidations) so the feed can publish them. Batches arrive in time order
  from the single feed actor.
- ``stats()``, ``check_conservation()``: read-only views.
- Dies: never restarted (``max_restarts=0``). It stands for the outside world, so
  chaos does not kill it; if it dies the run is over and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.clock import SimulatedClock
from core.config import PaperConfig
from core.events import MarketEvent
from exchanges.paper.venue import PaperVenue


class VenueActor:
    """Hold one paper venue; time is the market time of the events it is fed."""

    def __init__(self, venue: str, config: PaperConfig) -> None:
        # The venue's time is the market time of the last event it was fed.
        self._venue = PaperVenue.from_paper_config(venue, SimulatedClock(), config)

    def on_market_events(self, events: Sequence[MarketEvent]) -> list[MarketEvent]:
        return self._venue.on_market_events(events)

    def stats(self) -> dict[str, Any]:
        return dict(self._venue.stats())

    def check_conservation(self) -> list[str]:
        return self._venue.check_conservation()
