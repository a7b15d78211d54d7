"""Small helpers for the simulation's targeted tests: a started world, intents, venue lookups."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.models import Order, OrderType, Side
from gateway.intents import OrderIntent
from tests.sim.faults import FaultRates
from tests.sim.world import PERP, VENUE, World

D = Decimal
FAR = D(200)
"""How far from the mid a resting limit sits: the simulated prints never reach it."""


async def started_world(seed: int = 1, faults: FaultRates | None = None, **kwargs: Any) -> World:
    """Return a world whose gateway has recovered, has budgets and marks, and no crash armed."""
    world = World(seed, faults, **kwargs)
    await world.start()
    return world


def mid(world: World, symbol: str = PERP) -> Decimal:
    return world.market.mids[(VENUE, symbol)]


def resting(world: World, intent_id: str, *, side: Side = Side.BUY, **fields: Any) -> OrderIntent:
    """Return a limit intent far from the mid: it rests until cancelled."""
    away = -FAR if side is Side.BUY else FAR
    base: dict[str, Any] = {
        "agent_id": "mm",
        "intent_id": intent_id,
        "venue": VENUE,
        "symbol": PERP,
        "side": side,
        "type": OrderType.LIMIT,
        "amount": D("0.010"),
        "price": mid(world) + away,
    }
    base.update(fields)
    return OrderIntent(**base)


def taking(world: World, intent_id: str, *, side: Side = Side.BUY, **fields: Any) -> OrderIntent:
    """Return a market intent: it fills at once against the book."""
    base: dict[str, Any] = {
        "agent_id": "hunter",
        "intent_id": intent_id,
        "venue": VENUE,
        "symbol": PERP,
        "side": side,
        "type": OrderType.MARKET,
        "amount": D("0.010"),
    }
    base.update(fields)
    return OrderIntent(**base)


def venue_orders(world: World, client_order_id: str) -> list[Order]:
    """Return every venue order carrying ``client_order_id`` (more than one is a duplicate)."""
    return [o for o in world.paper.all_orders() if o.client_order_id == client_order_id]


def reserved(world: World) -> dict[str, Decimal]:
    """Return what each agent's ledger reserves now."""
    return {agent: book.reserved for agent, book in world.engine.ledger.agents.items()}


async def poll(world: World, times: int = 1, ms: int = 200) -> None:
    """Let ``ms`` pass and poll, ``times`` times (no market moves in between)."""
    for _ in range(times):
        world.advance(ms)
        await world.call("poll", lambda s: s.poll())
