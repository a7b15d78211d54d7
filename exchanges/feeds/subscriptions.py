"""Which live markets to subscribe to: by default, the markets the enabled agents trade.

``agent_markets(kind, config)`` reads one agent's (venue, symbol) pairs from its
validated config (the market maker and the liquidation hunter trade one market;
the funding arbitrageur every perp and spot of its ``venues`` table, its
defaults included). ``live_subscriptions(agents)`` joins them over the enabled
agents, in a stable order, without duplicates. A bad agent config is the
strategy's own ``ConfigError``. Pure: no ray, no ccxt; the agents' config models
are imported when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from core.config import validate_config
from core.errors import InvalidValue


class AgentLike(Protocol):
    """The part of ``core.config.AgentSpec`` read here."""

    @property
    def kind(self) -> str: ...

    @property
    def config(self) -> dict[str, Any]: ...


def agent_markets(kind: str, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the (venue, symbol) pairs an agent of ``kind`` with ``config`` trades."""
    if kind == "market_maker":
        from agents.market_maker.logic import MarketMakerConfig

        mm = validate_config(config, MarketMakerConfig, "agent market_maker")
        return [(mm.venue, mm.symbol)]
    if kind == "liquidation_hunter":
        from agents.liquidation_hunter.config import LiquidationHunterConfig

        hunter = validate_config(config, LiquidationHunterConfig, "agent liquidation_hunter")
        return [(hunter.venue, hunter.symbol)]
    if kind == "funding_arb":
        from agents.funding_arb.config import FundingArbConfig

        arb = validate_config(config, FundingArbConfig, "agent funding_arb")
        pairs: list[tuple[str, str]] = []
        for venue, markets in arb.venues.items():
            pairs.extend((venue, symbol) for symbol in markets.perps.values())
            pairs.extend((venue, symbol) for symbol in markets.spots.values())
        return pairs
    raise InvalidValue("kind", kind, "no such agent kind")


def live_subscriptions(agents: Mapping[str, AgentLike]) -> list[tuple[str, str]]:
    """Return the markets of ``agents`` (agent id -> spec), deduplicated, in order."""
    pairs: dict[tuple[str, str], None] = {}
    for agent_id, spec in agents.items():
        for pair in agent_markets(spec.kind, {"agent_id": agent_id, **spec.config}):
            pairs.setdefault(pair, None)
    return list(pairs)
