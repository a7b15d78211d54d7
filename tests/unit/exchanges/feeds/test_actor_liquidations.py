"""The feed actor forwards each liquidation to the agents once (issue 11, without Ray).

Before: with the model on, the venue ignored recorded prints but ``_publish`` still
forwarded them from the batch, beside whatever the venue made, so an agent counted
both. Now the agents get liquidations only as the venues publish them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from core.clock import SimulatedClock
from core.events import Liquidation, MarketEvent
from exchanges.feeds.actor import FeedActor, without_liquidations
from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig
from exchanges.paper.venue import PaperVenue
from tests.unit.exchanges.feeds.liquidation_data import (
    VENUE,
    events,
    recorded_liquidations,
    write_replay,
)


class InProcessVenue:
    """A venue client that applies each batch to a real ``PaperVenue`` at once."""

    def __init__(self, model: bool) -> None:
        config = PaperVenueConfig(liquidation_model=LiquidationModelConfig(enabled=model))
        self.venue = PaperVenue(VENUE, SimulatedClock(0), seed=7, config=config)

    def push(self, batch: Sequence[MarketEvent], max_in_flight: int) -> list[list[MarketEvent]]:
        return [list(self.venue.on_market_events(batch))]

    def drain(self) -> list[list[MarketEvent]]:
        return []


class Agent:
    def __init__(self) -> None:
        self.seen: list[MarketEvent] = []

    def push(self, batch: Sequence[MarketEvent], max_in_flight: int) -> list[Any]:
        self.seen.extend(batch)
        return []

    def drain(self) -> list[Any]:
        return []


def _run(tmp_path: Path, model: bool) -> tuple[list[Liquidation], InProcessVenue, FeedActor]:
    data = write_replay(tmp_path / "data")
    actor = FeedActor(str(data), speed=None, batch_size=4, max_in_flight=2)
    venue, agent = InProcessVenue(model), Agent()
    actor.run({VENUE: venue}, {"hunter": agent})  # type: ignore[dict-item]
    return [e for e in agent.seen if isinstance(e, Liquidation)], venue, actor


@pytest.mark.parametrize("model", [True, False])
def test_publish_when_replay_has_recorded_prints_then_each_reaches_the_agents_once(
    tmp_path: Path, model: bool
) -> None:
    seen, venue, actor = _run(tmp_path, model)
    recorded = [e for e in seen if e.source == "recorded"]
    assert sorted(recorded, key=lambda e: e.ts_ns) == recorded_liquidations()
    assert venue.venue.stats()["recorded_liquidations"] == 3
    assert venue.venue.stats()["model_on"] == 0
    generated = actor.progress()["generated"]
    assert generated.get("recorded_liquidations") == 3  # not counted as the model's


def test_publish_when_model_on_then_no_model_print_after_the_first_recorded_one(
    tmp_path: Path,
) -> None:
    seen, venue, _ = _run(tmp_path, model=True)
    off = venue.venue.model_off_ns
    assert off == recorded_liquidations()[0].ts_ns
    sources = [e.source for e in seen]
    first_recorded = sources.index("recorded")
    assert "model" not in sources[first_recorded:]
    assert all(e.ts_ns <= off for e in seen if e.source == "model")


def test_without_liquidations_when_batch_has_none_then_the_same_batch() -> None:
    batch = [e for e in events() if not isinstance(e, Liquidation)]
    assert without_liquidations(batch) is batch
    assert without_liquidations(events()) == batch
