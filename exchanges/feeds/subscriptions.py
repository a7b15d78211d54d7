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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


# -- BINDING AGENTS TO THE MARKETS A DATA SET HOLDS -------------------------------

_SINGLE_MARKET_KINDS = ("market_maker", "liquidation_hunter")
_CROSS_TYPE_KINDS = ("market_maker",)


def _describe(markets: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{venue} {symbol}" for venue, symbol in sorted(markets)) or "nothing"


def _is_perp(symbol: str) -> bool:
    return ":" in symbol


def _rebind_target(
    wanted: tuple[str, str], held: set[tuple[str, str]], cross_type: bool = False
) -> tuple[str, str] | list[tuple[str, str]] | None:
    """Return the one market of ``held`` that stands in for ``wanted``, None, or the tie."""
    symbol = wanted[1]
    base, perp = symbol.split("/")[0], _is_perp(symbol)
    for found in (
        sorted(m for m in held if m[1] == symbol),  # the same market on another venue
        sorted(m for m in held if m[1].split("/")[0] == base and _is_perp(m[1]) == perp),
        sorted(m for m in held if _is_perp(m[1]) == perp),  # the one market of its type
        sorted(m for m in held if cross_type and m[1].split("/")[0] == base),
    ):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            return found
    return None


@dataclass(frozen=True)
class Binding:
    """One agent moved from the market its config names to the one the data holds."""

    agent_id: str
    wanted: tuple[str, str]
    bound: tuple[str, str]

    def describe(self) -> str:
        return (
            f"{self.agent_id}: {self.wanted[0]} {self.wanted[1]} -> "
            f"{self.bound[0]} {self.bound[1]} (the data holds no {self.wanted[0]} {self.wanted[1]})"
        )


@dataclass(frozen=True)
class DataBinding:
    """What ``bind_to_data`` decided: each agent's config, the moves made, who the data cannot serve."""

    configs: dict[str, dict[str, Any]]
    bindings: list[Binding]
    unserved: dict[str, str]
    """Agent id -> why the data serves it no market (it runs, and says so as its idle reason)."""


def bind_to_data(
    agents: Mapping[str, AgentLike],
    held: Iterable[tuple[str, str]],
    venues: Iterable[str],
    *,
    rules_of: Callable[[str, str], Mapping[str, Any] | None] = lambda v, s: None,
) -> DataBinding:
    """Bind each agent to the markets the replay data holds, or refuse naming both sides.

    ``held`` is the (venue, symbol) pairs of the data, ``venues`` the paper
    venues of the run. An agent trading one market (market maker, hunter) whose
    market is not in the data is moved to the one market that stands in for it:
    the same symbol on another venue, else the same base and type, else the
    only market of its type (a market maker may also go from a perp to the spot
    of its base: quoting needs a book, not a contract); ``rules_of(venue,
    symbol)`` gives the config keys that follow the market (``price_tick``,
    ``amount_step``). An agent with two candidates or none, or trading many
    markets (the funding arbitrage) none of which is in the data, is unserved:
    it runs idle, its reason naming what it wants and what the data holds. When
    the data serves no agent at all the run is refused (``InvalidValue``).
    """
    held = set(held)
    usable = {m for m in held if m[0] in set(venues)}
    configs: dict[str, dict[str, Any]] = {}
    bindings: list[Binding] = []
    unserved: dict[str, str] = {}
    for agent_id, spec in agents.items():
        config = dict(spec.config)
        configs[agent_id] = config
        wants = agent_markets(spec.kind, {"agent_id": agent_id, **config})
        if any(m in usable for m in wants):
            continue
        refusal = (
            f"wants {_describe(wants)}; the data holds {_describe(held)}"
            f" (paper venues: {', '.join(sorted(set(venues)))})"
        )
        target = (
            _rebind_target(wants[0], usable, spec.kind in _CROSS_TYPE_KINDS)
            if spec.kind in _SINGLE_MARKET_KINDS
            else None
        )
        if target is None or isinstance(target, list):
            tie = f"; it could stand on {_describe(target)}" if isinstance(target, list) else ""
            unserved[agent_id] = f"no market in the data: {refusal}{tie}"
            continue
        config.update(venue=target[0], symbol=target[1])
        for key, value in (rules_of(*target) or {}).items():
            if key in config:
                config[key] = value
        bindings.append(Binding(agent_id, wants[0], target))
    if agents and len(unserved) == len(agents):
        raise InvalidValue(
            "--data",
            _describe(held),
            "serves none of the agents: "
            + "; ".join(f"{a} {r.split(': ', 1)[1]}" for a, r in unserved.items())
            + " (set their venue and symbol, or choose them with --agent)",
        )
    return DataBinding(configs, bindings, unserved)


def market_keys(venue: str, symbol: str) -> dict[str, str] | None:
    """Return the agent config keys that follow a market (tick and lot) from the venue rules."""
    from exchanges.paper.rules import venue_rules

    try:
        rules = venue_rules(venue).market(symbol)
    except InvalidValue:
        return None
    if rules is None:
        return None
    return {"price_tick": str(rules.price_tick), "amount_step": str(rules.amount_step)}


class DataFile(Protocol):
    """The part of ``exchanges.feeds.replay_stats.ReplayFile`` read here."""

    @property
    def venue(self) -> str: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    @property
    def selected(self) -> bool: ...


class SpecLike(AgentLike, Protocol):
    """An agent spec that can be copied with another config (``core.config.AgentSpec``)."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any: ...


def bind_agents(
    agents: Mapping[str, SpecLike], files: Iterable[DataFile], venues: Iterable[str]
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    """Bind the agents to the markets the replay files hold (``bind_to_data``).

    Return the agents' specs with their rebound configs (validated again by the
    strategy's own model), one line per binding made, and the agents the data
    serves no market (id -> the reason, which becomes their idle reason).
    """
    from agents.registry import build_strategy

    held = {(f.venue, s) for f in files if f.venue and f.selected for s in f.symbols}
    result = bind_to_data(agents, held, venues, rules_of=market_keys)
    specs: dict[str, Any] = dict(agents)
    for binding in result.bindings:
        agent_id = binding.agent_id
        config = result.configs[agent_id]
        build_strategy(
            agents[agent_id].kind,
            {"agent_id": agent_id, **config},
            f"agents.{agent_id}.config bound to the data",
        )
        specs[agent_id] = agents[agent_id].model_copy(update={"config": config})
    return specs, [b.describe() for b in result.bindings], dict(result.unserved)
