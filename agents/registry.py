"""Build a strategy from its kind and a plain config mapping (what an actor receives)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.config import validate_config

KINDS = ("market_maker", "funding_arb", "liquidation_hunter")


def build_strategy(kind: str, config: Mapping[str, Any], source: str | None = None) -> Any:
    """Return the ``agents.base.Strategy`` of ``kind``; a bad config is a ``ConfigError`` naming the key."""
    where = source or f"agent {kind}"
    if kind == "market_maker":
        from agents.market_maker.logic import MarketMakerConfig
        from agents.market_maker.strategy import MarketMakerStrategy

        return MarketMakerStrategy(validate_config(config, MarketMakerConfig, where))
    if kind == "funding_arb":
        from agents.funding_arb.config import FundingArbConfig
        from agents.funding_arb.strategy import FundingArbStrategy

        return FundingArbStrategy(validate_config(config, FundingArbConfig, where))
    if kind == "liquidation_hunter":
        from agents.liquidation_hunter.config import LiquidationHunterConfig
        from agents.liquidation_hunter.strategy import LiquidationHunterStrategy

        return LiquidationHunterStrategy(validate_config(config, LiquidationHunterConfig, where))
    raise ValueError(f"kind={kind!r}: no such agent (known: {', '.join(KINDS)})")
