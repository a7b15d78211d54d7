"""Build a strategy from its kind and a plain config mapping (what an actor receives)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.config import validate_config


def build_strategy(kind: str, config: Mapping[str, Any]) -> Any:
    """Return the ``agents.base.Strategy`` of ``kind``; a bad config is a ``ConfigError`` naming the key."""
    if kind == "market_maker":
        from agents.market_maker.logic import MarketMakerConfig
        from agents.market_maker.strategy import MarketMakerStrategy

        return MarketMakerStrategy(validate_config(config, MarketMakerConfig, f"agent {kind}"))
    raise ValueError(f"kind={kind!r}: no such agent (known: market_maker)")
