"""A shadow agent (the actor's class driven in process, no Ray): it trades its private sandbox only."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from agents.actor import AgentActor, ShadowSettings
from agents.sandbox import Sandbox
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


def test_sandbox_when_funding_paid_on_a_position_then_gateway_books_what_the_venue_paid() -> None:
    from core.events import FundingEvent, TopOfBook
    from core.models import OrderType, Side
    from gateway.intents import OrderIntent

    config = load_config(ROOT / "configs" / "paper.toml", SwarmConfig)
    limits = RiskLimits(max_order_notional=Decimal(10**6), max_position_notional=Decimal(10**7))
    sandbox = Sandbox("mm--f", Decimal(50_000), config.paper, limits)
    perp = "BTC/USDT:USDT"
    t0 = 1_670_889_600_000_000_000
    book = TopOfBook(
        t0, "bybit", perp, Decimal("17000.0"), Decimal(5), Decimal("17000.5"), Decimal(5)
    )

    async def run() -> tuple[Decimal, Decimal]:
        await sandbox.on_instant([book])
        intent = OrderIntent(
            agent_id="mm--f",
            intent_id="buy-1",
            venue="bybit",
            symbol=perp,
            side=Side.BUY,
            type=OrderType.MARKET,
            amount=Decimal("0.5"),
        )
        result = await sandbox.asubmit(intent)
        assert result.denial is None, result.denial
        await sandbox.settle()
        funding = FundingEvent(t0 + 10**9, "bybit", perp, Decimal("0.0001"), Decimal(8))
        await sandbox.on_instant([funding])
        view = sandbox._service.engine.snapshot().agents["mm--f"]
        paid = sum(
            (e.amount for e in sandbox._venues["bybit"].ledger() if e.kind.name == "FUNDING"),
            Decimal(0),
        )
        return sum(view.funding.values(), Decimal(0)), paid

    booked, paid = asyncio.run(run())
    assert paid < 0  # a long pays a positive rate
    assert booked == paid  # the gateway's books saw exactly what the venue took
