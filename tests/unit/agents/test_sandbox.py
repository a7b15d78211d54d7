"""A shadow agent (the actor's class driven in process, no Ray): it trades its private sandbox only."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from agents.actor import AgentActor, ShadowSettings
from core.config import SwarmConfig, load_config
from exchanges.feeds.replay import ReplayFeed
from risk.limits import RiskLimits

ROOT = Path(__file__).resolve().parents[3]


def _shadow(config: SwarmConfig, agent_id: str, **overrides: object) -> AgentActor:
    spec = config.agents["mm"]
    g = config.gateway
    limits = RiskLimits(
        max_order_notional=g.max_order_notional,
        max_position_notional=g.max_position_notional,
        max_orders_per_window=g.max_orders_per_minute,
        price_band_bps=g.price_band_bps,
    )
    settings = ShadowSettings(budget=spec.budget, paper=config.paper, limits=limits)
    return AgentActor(
        spec.kind, {**spec.config, "agent_id": agent_id, **overrides}, shadow=settings
    )


def test_shadow_when_fed_the_embedded_day_then_trades_its_sandbox_and_scores() -> None:
    config = load_config(ROOT / "configs" / "paper.toml", SwarmConfig)

    async def run() -> tuple[dict[str, object], dict[str, Decimal] | None, bool, bool]:
        shadow = _shadow(config, "mm--test")
        for batch in ReplayFeed(ROOT / config.paper.data_dir, venues=config.paper.venues).batches(
            512
        ):
            await shadow.on_market_events(batch)
        changed = await shadow.reconfigure({**config.agents["mm"].config, "agent_id": "mm--test"})
        moved = await shadow.reconfigure(
            {**config.agents["mm"].config, "agent_id": "mm--test", "gamma": 0.5}
        )
        return await shadow.stats(), await shadow.score(), changed, moved

    stats, score, same_config_changed, new_config_changed = asyncio.run(run())
    assert stats["errors"] == 0
    assert int(str(stats["decisions"])) > 100
    assert score is not None and score["budget"] == config.agents["mm"].budget
    assert score["fees"] > 0  # it traded: its quotes filled in its own paper venue
    assert not same_config_changed and new_config_changed
