"""Concurrent simulation: agents, a poller and the market on ONE event loop, as in the gateway actor.

The ``gateway`` actor is an async Ray actor: many ``submit``, ``submit_many``
and ``cancel`` calls run at once on one event loop, interleaved with the
background ``poll()`` loop, and they interleave wherever the service awaits a
venue call. The sequential simulation (``tests.sim.harness``) never lets two
calls overlap; this one does. ``YieldingVenue`` is ``FaultyVenue`` with a
seeded number of ``await asyncio.sleep(0)`` before and after the venue's work
in every port call, so a seed picks one interleaving and replays it.

``run_seed(seed)`` boots a ``World`` (no crashes), then runs at once: three
agents submitting random intents (the same intent from two tasks at once,
cancels racing their submits, two-symbol batches, market orders that fill
inside the create, repeats, cancels), a poller calling ``service.poll()``, and
the market moving (resting orders fill while their creates are answered).
Then it heals the network, cancels what is left, polls past the not-found
grace and checks DESIGN.md's invariants with ``tests.sim.checks``, plus:
concurrent submits of one intent got one venue order and one client order id,
and (without venue faults) the breaker never tripped.

``python -m tests.sim.concurrent --seeds 1000 [--start 0] [--faults]`` prints
one JSON line and exits 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from core.clock import NS_PER_S
from core.models import Order
from gateway.breaker import BreakerState
from gateway.engine_types import EngineConfig
from gateway.intents import OrderIntent
from gateway.service import GatewayService, SubmitResult
from risk.checks import DenialReason
from tests.sim.checks import check_world
from tests.sim.faults import FaultRates, FaultyVenue
from tests.sim.harness import Agents
from tests.sim.support import venue_orders
from tests.sim.world import AGENTS, VENUE, World

T = TypeVar("T")

_CONFLICT = DenialReason.IDEMPOTENCY_CONFLICT

MAX_YIELDS = 6
"""At most this many event-loop turns before and after each venue call's work."""


@dataclass
class YieldingVenue(FaultyVenue):
    """``FaultyVenue`` whose every port call gives the event loop away a seeded number of times.

    The yields run before the venue does the work (the request travels) and
    after (the answer travels back), so another task may act at the venue, or
    log a fact, between a call's effect and its answer.
    """

    jitter: random.Random = field(default_factory=random.Random)

    async def _travel(self) -> None:
        for _ in range(self.jitter.choice((0, 0, 1, 1, 2, 3, MAX_YIELDS))):
            await asyncio.sleep(0)

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        await self._travel()
        try:
            return await work()
        finally:
            await self._travel()

    async def create_order(self, request: Any) -> Order:
        return await self._call(lambda: FaultyVenue.create_order(self, request))

    async def cancel_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return await self._call(
            lambda: FaultyVenue.cancel_order(self, symbol, id=id, client_order_id=client_order_id)
        )

    async def fetch_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return await self._call(
            lambda: FaultyVenue.fetch_order(self, symbol, id=id, client_order_id=client_order_id)
        )

    async def fetch_open_orders(self, symbol: str | None = None) -> Any:
        return await self._call(lambda: FaultyVenue.fetch_open_orders(self, symbol))

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> Any:
        return await self._call(lambda: FaultyVenue.fetch_my_trades(self, symbol, since, limit))

    async def fetch_balance(self) -> Any:
        return await self._call(lambda: FaultyVenue.fetch_balance(self))

    async def fetch_positions(self, symbols: Any = None) -> Any:
        return await self._call(lambda: FaultyVenue.fetch_positions(self, symbols))

    async def fetch_ticker(self, symbol: str) -> Any:
        return await self._call(lambda: FaultyVenue.fetch_ticker(self, symbol))


@dataclass(frozen=True)
class ConcurrentConfig:
    """How hard one seed is pushed."""

    actions: int = 12
    """Actions per agent task."""
    faults: FaultRates = field(default_factory=FaultRates.none)
    service_factory: Callable[..., GatewayService] | None = None
    """Build the service from ``World.build_service``'s arguments (a planted bug, in tests)."""


@dataclass
class ConcurrentResult:
    seeds: int = 0
    submits: int = 0
    accepted: int = 0
    twins: int = 0
    races: int = 0
    batches: int = 0
    cancels: int = 0
    polls: int = 0
    orders: int = 0
    fills: int = 0
    violations: list[tuple[int, str, str]] = field(default_factory=list)

    def merge(self, other: ConcurrentResult) -> None:
        for name in (
            "seeds",
            "submits",
            "accepted",
            "twins",
            "races",
            "batches",
            "cancels",
            "polls",
            "orders",
            "fills",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.violations.extend(other.violations)

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for _, kind, _ in self.violations:
            kinds[kind] = kinds.get(kind, 0) + 1
        failing = sorted({seed for seed, _, _ in self.violations})
        return {
            "seeds": self.seeds,
            "submits": self.submits,
            "accepted": self.accepted,
            "twin_submits": self.twins,
            "cancel_races": self.races,
            "batches": self.batches,
            "cancels": self.cancels,
            "polls": self.polls,
            "orders": self.orders,
            "fills": self.fills,
            "violations": len(self.violations),
            "by_kind": kinds,
            "failing_seeds": failing[:50],
        }


class ConcurrentRun:
    """One seed: the world, the tasks, and what they saw."""

    def __init__(self, seed: int, config: ConcurrentConfig) -> None:
        self.seed = seed
        self.config = config
        self.world = World(seed, config.faults)
        self.world.venue = YieldingVenue(
            self.world.paper,
            self.world.clock,
            random.Random(f"faults:{seed}"),
            config.faults,
            jitter=random.Random(f"yield:{seed}"),
        )
        if config.service_factory is not None:
            build = self.world.build_service
            factory = config.service_factory

            def planted() -> GatewayService:
                s = build()
                return factory(
                    engine=s.engine, wal=s.wal, venues=s.venues, clock=s.clock, crash=s.crash
                )

            self.world.build_service = planted  # type: ignore[method-assign]
        self.rng = random.Random(f"concurrent:{seed}")
        self.agents = Agents(self.world, random.Random(f"agents:{seed}"))
        self.result = ConcurrentResult(seeds=1)
        self.stopped = False

    @property
    def service(self) -> GatewayService:
        return self.world.service

    def violate(self, kind: str, detail: str) -> None:
        self.result.violations.append((self.seed, kind, detail))

    # -- the tasks ---------------------------------------------------------------

    async def _turns(self, most: int = 3) -> None:
        for _ in range(self.rng.randint(0, most)):
            await asyncio.sleep(0)

    def _record(self, intent: OrderIntent, result: SubmitResult) -> None:
        self.result.submits += 1
        if result.client_order_id not in (None, intent.client_order_id):
            self.violate("idempotency", f"{intent.intent_id} answered {result.client_order_id}")
        if result.order is not None:
            if result.order.client_order_id != intent.client_order_id:
                self.violate(
                    "idempotency",
                    f"{intent.intent_id} answered with order {result.order.client_order_id}",
                )
            if self.agents.remember(intent):
                self.result.accepted += 1

    async def submit_new(self, agent: str) -> None:
        intent = self.agents.new_intent(agent)
        self._record(intent, await self.service.submit(intent))

    async def twin_submit(self, agent: str) -> None:
        """The same intent from two tasks at once: one venue order, one client order id."""
        intent = self.agents.new_intent(agent)
        self.result.twins += 1
        first, second = await asyncio.gather(
            self.service.submit(intent), self._after_turns(self.service.submit, intent)
        )
        for result in (first, second):
            self._record(intent, result)
        if first.client_order_id != second.client_order_id:
            self.violate(
                "idempotency",
                f"twin submits of {intent.intent_id}: {first.client_order_id}"
                f" and {second.client_order_id}",
            )
        # One may be denied and the other accepted (a fill freed a position in
        # between: denials reserve nothing), but never as a conflict with itself.
        for result in (first, second):
            if result.denial is not None and result.denial.reason is _CONFLICT:
                self.violate("idempotency", f"twin submits of {intent.intent_id}: {result.denial}")
        if first.accepted and second.accepted and first.duplicate == second.duplicate:
            self.violate(
                "idempotency",
                f"twin submits of {intent.intent_id}: duplicate={first.duplicate} for both",
            )
        if len(venue_orders(self.world, intent.client_order_id)) > 1:
            self.violate("duplicate", f"twin submits of {intent.intent_id} made two venue orders")

    async def _after_turns(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        await self._turns()
        return await fn(*args)

    async def cancel_race(self, agent: str) -> None:
        """A submit and its cancel at once, in either order."""
        intent = self.agents.new_intent(agent)
        self.result.races += 1
        submit = self._after_turns(self.service.submit, intent)
        cancel = self._after_turns(self.service.cancel, agent, intent.intent_id)
        if self.rng.random() < 0.5:
            result, _ = await asyncio.gather(submit, cancel)
        else:
            _, result = await asyncio.gather(cancel, submit)
        self._record(intent, result)
        reason = result.denial.reason if result.denial is not None else None
        if reason is DenialReason.CANCELED_BEFORE_SUBMIT and venue_orders(
            self.world, intent.client_order_id
        ):
            self.violate("idempotency", f"{intent.intent_id} placed after its cancel")

    async def batch(self) -> None:
        legs = self.agents.arb_legs()
        self.result.batches += 1
        results = await self.service.submit_many(legs)
        for intent, result in zip(legs, results, strict=True):
            self._record(intent, result)

    def _pick(self) -> OrderIntent | None:
        if not self.agents.accepted:
            return None
        return self.agents.accepted[self.rng.randrange(len(self.agents.accepted))]

    async def cancel(self) -> None:
        intent = self._pick()
        if intent is not None:
            self.result.cancels += 1
            await self.service.cancel(intent.agent_id, intent.intent_id)

    async def repeat(self) -> None:
        intent = self._pick()
        if intent is None:
            return
        result = await self.service.submit(intent)
        if result.client_order_id != intent.client_order_id or not result.duplicate:
            self.violate("idempotency", f"repeat of {intent.intent_id}: {result}")

    async def agent(self, agent: str) -> None:
        actions: list[tuple[Callable[[], Awaitable[None]], float]] = [
            (lambda: self.submit_new(agent), 5),
            (lambda: self.twin_submit(agent), 2),
            (lambda: self.cancel_race(agent), 2),
            (self.batch, 1.5 if agent == "arb" else 0.3),
            (self.cancel, 2),
            (self.repeat, 1),
        ]
        fns, weights = zip(*actions, strict=True)
        for _ in range(self.config.actions):
            await self._turns()
            await self.rng.choices(fns, weights)[0]()

    async def poller(self) -> None:
        while not self.stopped:
            await self.service.poll()
            self.result.polls += 1
            await self._turns(4)

    async def market(self) -> None:
        world = self.world
        while not self.stopped:
            world.advance(self.rng.randint(20, 300))
            world.feed(world.market.step(world.clock.now_ns()))
            self.service.mark(dict(world.market.mids))
            await self._turns(6)

    # -- the seed ----------------------------------------------------------------

    async def run(self) -> ConcurrentResult:
        world = self.world
        await world.start()
        background = [asyncio.ensure_future(self.poller()), asyncio.ensure_future(self.market())]
        try:
            await asyncio.gather(*(self.agent(agent) for agent in AGENTS))
        finally:
            self.stopped = True
            await asyncio.gather(*background)
        await self.settle()
        self.result.orders = len(world.paper.all_orders())
        self.result.fills = len(world.paper.my_trades())
        return self.result

    async def settle(self) -> None:
        """Heal, cancel what is left, poll past the not-found grace, then check everything."""
        world, service = self.world, self.service
        world.venue.quiesce()
        for _ in range(2):
            world.advance(1000)
            await service.poll()
        for order in world.engine.snapshot().orders:
            if not order.state.is_terminal:
                await service.cancel(order.agent_id, order.intent_id)
        world.clock.advance(grace_ns(world) + NS_PER_S)
        for _ in range(3):
            world.advance(1000)
            await service.poll()
        verdicts = await service.reconcile()
        if verdicts.get(VENUE) != "match":
            self.violate("conservation", f"the final reconciliation was {verdicts}")
        for kind, detail in check_world(world, final=True).violations:
            self.violate(kind, detail)
        if self.config.faults == FaultRates.none() and world.engine.breaker_state not in (
            BreakerState.CLOSED,
        ):
            self.violate(
                "breaker",
                f"the breaker is {world.engine.breaker_state} after a run without venue faults"
                f" (last transition {world.wal.last_breaker})",
            )


def grace_ns(world: World) -> int:
    """Return the engine's not-found grace (after it, "not found" is final)."""
    config = world.engine_config or EngineConfig()
    return config.not_found_grace_ns


async def run_seed_async(seed: int, config: ConcurrentConfig | None = None) -> ConcurrentResult:
    run = ConcurrentRun(seed, config or ConcurrentConfig())
    try:
        return await run.run()
    except Exception as exc:  # a bug in the gateway: the seed's failure
        where = traceback.extract_tb(exc.__traceback__)[-1]
        run.violate("error", f"{type(exc).__name__}: {exc} at {where.filename}:{where.lineno}")
        return run.result


def run_seed(seed: int, config: ConcurrentConfig | None = None) -> ConcurrentResult:
    return asyncio.run(run_seed_async(seed, config))


def run_seeds(seeds: range, config: ConcurrentConfig | None = None) -> ConcurrentResult:
    async def all_seeds() -> ConcurrentResult:
        total = ConcurrentResult()
        for seed in seeds:
            total.merge(await run_seed_async(seed, config))
        return total

    return asyncio.run(all_seeds())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim.concurrent", description=__doc__)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--actions", type=int, default=ConcurrentConfig.actions)
    parser.add_argument("--faults", action="store_true", help="the default venue fault mix")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)
    faults = FaultRates.default() if args.faults else FaultRates.none()
    started = time.perf_counter()
    total = run_seeds(
        range(args.start, args.start + args.seeds),
        ConcurrentConfig(actions=args.actions, faults=faults),
    )
    summary = total.summary()
    summary["wall_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(summary))
    for seed, kind, detail in total.violations[:10]:
        print(f"  seed {seed}: {kind}: {detail}", file=sys.stderr)
    return 1 if total.violations else 0


if __name__ == "__main__":
    sys.exit(main())
