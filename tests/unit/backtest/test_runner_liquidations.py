"""The backtest runner hands each liquidation to the agents once (issue 11).

Before: with the model on, the venue ignored recorded prints but the runner still
passed them to the agents beside the venue's own, so the hunter could count both.
A spy hunter records the liquidations in every snapshot it is given.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import backtest.runner as runner
from agents.base import AccountView, MarketView
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.logic import HunterSnapshot
from agents.liquidation_hunter.strategy import LiquidationHunterStrategy
from core.config import AgentSpec, PaperConfig
from core.events import Liquidation
from risk.limits import RiskLimits
from tests.unit.exchanges.feeds.liquidation_data import (
    SYMBOL,
    VENUE,
    recorded_liquidations,
    write_replay,
)


class SpyHunter(LiquidationHunterStrategy):
    def __init__(self, config: LiquidationHunterConfig) -> None:
        super().__init__(config)
        self.given: list[Liquidation] = []

    def snapshot(self, market: MarketView, account: AccountView, now_ns: int) -> HunterSnapshot:
        snap = super().snapshot(market, account, now_ns)
        self.given.extend(snap.liquidations)
        return snap


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: bool) -> SpyHunter:
    data = write_replay(tmp_path / "data")
    config: dict[str, Any] = {
        "venue": VENUE,
        "symbol": SYMBOL,
        "price_tick": "0.1",
        "amount_step": "0.001",
        "order_size": "0.01",
        "max_position": "0.05",
    }
    spies: list[SpyHunter] = []

    def build(kind: str, settings: dict[str, Any]) -> SpyHunter:
        spies.append(SpyHunter(LiquidationHunterConfig.model_validate(settings)))
        return spies[-1]

    monkeypatch.setattr(runner, "build_strategy", build)
    spec = AgentSpec(kind="liquidation_hunter", budget=Decimal(30_000), config=config)
    paper = PaperConfig(venues=(VENUE,), liquidation_model=model)
    asyncio.run(runner.run_backtest(data, {"liq-hunter": spec}, paper, RiskLimits()))
    return spies[0]


@pytest.mark.parametrize("model", [True, False])
def test_run_backtest_when_data_has_recorded_prints_then_the_agent_gets_each_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: bool
) -> None:
    spy = _run(tmp_path, monkeypatch, model)
    recorded = [e for e in spy.given if e.source == "recorded"]
    assert recorded == recorded_liquidations()
    sources = [e.source for e in spy.given]
    assert "model" not in sources[sources.index("recorded") :]
