"""The deterministic fault simulation: one process, asyncio, a simulated clock, one seed.

``run_seed(seed)`` boots a ``World`` (paper venue behind ``FaultyVenue``, a
simulated disk, the gateway), then for ``steps`` steps: moves the market one
recorded bar, sometimes settles funding, arms a random crash point or a power
cut now and then, lets one of three agents act (market, limit, post-only, IOC,
reduce-only orders, a two-leg batch, repeats of old intents, conflicting
repeats, cancels, cancels before submit), polls, and checks DESIGN.md's
invariants after every step. A final phase heals the network, cancels what is
left, polls past the not-found grace and checks that every order is settled.

Every decision comes from ``random.Random`` seeded with strings built from the
seed, so a seed replays the same run: the same event log, line for line, and
the same ``digest``. A failing seed is replayed with
``python -m tests.sim.run --seeds 1 --start SEED --log``.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chaos.invariants import open_breaker_cause
from core.clock import NS_PER_S
from core.models import OrderType, Side, TimeInForce
from gateway.breaker import BreakerState
from gateway.crashpoints import POINTS
from gateway.intents import OrderIntent
from gateway.orders import OrderState, OrderView
from gateway.service import GatewayService, SubmitResult
from gateway.wal import Wal
from risk.checks import Denial, DenialReason
from tests.sim.checks import VIOLATION_KINDS, check_world
from tests.sim.faults import COUNTED, FaultRates
from tests.sim.world import AGENTS, PERP, SPOT, VENUE, World, as_async

IN_DOUBT = frozenset({OrderState.PENDING, OrderState.UNKNOWN})
"""States only the venue can settle: each must have been asked about by client order id."""

D = Decimal
DEFAULT_STEPS = 100
_ARMABLE = tuple(p for p in POINTS if p != "mid_recovery")  # recovery is armed at each boot
_SERVICE_STATS = ("sends", "unknown_outcomes", "fills", "duplicate_fills", "resolved", "denials")


@dataclass(frozen=True)
class SimConfig:
    """How hard one seed is pushed."""

    steps: int = DEFAULT_STEPS
    faults: FaultRates = field(default_factory=FaultRates.default)
    crash_rate: float = 0.08
    """Chance per step to arm a crash point (when none is armed)."""
    power_cut_rate: float = 0.03
    """Chance per step to cut the power in a coming fsync (the log's tail may tear)."""
    recovery_crash_rate: float = 0.15
    """Chance per restart that recovery itself dies (``mid_recovery``)."""


# -- RESULTS --------------------------------------------------------------------


@dataclass
class SimResult:
    """Counts over one or more seeds; ``violations`` is zero when every invariant held."""

    seeds: int = 0
    steps: int = 0
    intents: int = 0
    accepted: int = 0
    denied: int = 0
    orders: int = 0
    fills: int = 0
    crashes: int = 0
    crashes_by_point: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    service: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_SERVICE_STATS, 0))
    by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VIOLATION_KINDS, 0))
    failing_seeds: list[int] = field(default_factory=list)
    first_failures: dict[int, list[str]] = field(default_factory=dict)
    digests: list[str] = field(default_factory=list)
    corruption_drills: int = 0
    checkpoint_drills: int = 0
    checkpoints_written: int = 0
    recovered_from_checkpoint: int = 0

    @property
    def violations(self) -> int:
        return sum(self.by_kind.values())

    @property
    def digest(self) -> str:
        """Return one digest of every seed's event log (equal runs, equal digest)."""
        return hashlib.blake2b("".join(self.digests).encode(), digest_size=8).hexdigest()

    def merge(self, other: SimResult) -> None:
        """Add ``other``'s counts to these (seeds in the order merged)."""
        for name in (
            "seeds",
            "steps",
            "intents",
            "accepted",
            "denied",
            "orders",
            "fills",
            "corruption_drills",
            "checkpoint_drills",
            "checkpoints_written",
            "recovered_from_checkpoint",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.crashes += other.crashes
        for target, source in (
            (self.crashes_by_point, other.crashes_by_point),
            (self.faults, other.faults),
            (self.service, other.service),
            (self.by_kind, other.by_kind),
        ):
            for key, value in source.items():
                target[key] = target.get(key, 0) + value
        self.failing_seeds.extend(other.failing_seeds)
        self.first_failures.update(other.first_failures)
        self.digests.extend(other.digests)

    def summary(self) -> dict[str, Any]:
        """Return the one-line JSON report of the sweep."""
        return {
            "seeds": self.seeds,
            "steps": self.steps,
            "intents": self.intents,
            "accepted": self.accepted,
            "denied": self.denied,
            "orders": self.orders,
            "fills": self.fills,
            "crashes": self.crashes,
            "crashes_by_point": dict(sorted(self.crashes_by_point.items())),
            "unknown_outcomes": self.service["unknown_outcomes"],
            "duplicate_fills_ignored": self.service["duplicate_fills"],
            "faults": self.faults,
            "duplicates": self.by_kind["duplicate"],
            "lost": self.by_kind["lost"],
            "conservation_errors": self.by_kind["conservation"] + self.by_kind["reservation"],
            "fill_errors": self.by_kind["fill"],
            "breaker_regressions": self.by_kind["breaker_regression"],
            "accepted_before_recovery": self.by_kind["accepted_before_recovery"],
            "idempotency_errors": self.by_kind["idempotency"],
            "unresolved_at_end": self.by_kind["unresolved_at_end"],
            "wal_corruption_missed": self.by_kind["wal_corruption_missed"],
            "checkpoint_fallback_errors": self.by_kind["checkpoint_fallback"],
            "checkpoints_written": self.checkpoints_written,
            "recovered_from_checkpoint": self.recovered_from_checkpoint,
            "checkpoint_drills": self.checkpoint_drills,
            "liveness": self.by_kind["liveness"],
            "corruption_drills": self.corruption_drills,
            "errors": self.by_kind["error"],
            "violations": self.violations,
            "failing_seeds": self.failing_seeds,
            "digest": self.digest,
        }


@dataclass
class SeedRun:
    """One seed's result and its event log (the replayable record)."""

    seed: int
    result: SimResult
    log: list[str]


# -- THE AGENTS -----------------------------------------------------------------

_KIND_WEIGHTS: dict[str, dict[str, float]] = {
    "mm": {"limit": 4, "post_only": 5, "market": 0.5, "ioc": 0.5, "reduce": 1, "spot": 1},
    "arb": {"limit": 1, "post_only": 1, "market": 1, "ioc": 1, "reduce": 1, "spot": 3},
    "hunter": {"limit": 1, "post_only": 0.5, "market": 4, "ioc": 3, "reduce": 3, "spot": 1},
}


class Agents:
    """Three agents deciding a random stream of intents (deterministic from the seed)."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.serial = dict.fromkeys(AGENTS, 0)
        self.accepted: list[OrderIntent] = []
        self._accepted_ids: set[str] = set()

    def remember(self, intent: OrderIntent) -> bool:
        """Keep an accepted intent for repeats and cancels; return False if it was known."""
        if intent.intent_id in self._accepted_ids:
            return False
        self._accepted_ids.add(intent.intent_id)
        self.accepted.append(intent)
        return True

    def next_id(self, agent: str) -> str:
        self.serial[agent] += 1
        return f"{agent}-{self.serial[agent]}"

    def new_intent(self, agent: str) -> OrderIntent:
        """Return a fresh intent of ``agent``'s style (some of them deniable on purpose)."""
        rng = self.rng
        weights = _KIND_WEIGHTS[agent]
        kind = rng.choices(list(weights), list(weights.values()))[0]
        if kind == "spot":
            return self.spot_intent(agent, rng.choice((Side.BUY, Side.SELL)))
        mid = self.world.market.mids[(VENUE, PERP)]
        tick = D("0.1")
        side = rng.choice((Side.BUY, Side.SELL))
        amount = D(rng.randint(6, 60)) * D("0.001")
        fields: dict[str, Any] = {"type": OrderType.LIMIT}
        if kind == "reduce":
            held = self.world.engine.ledger.position(agent, VENUE, PERP)
            if held:
                side = Side.SELL if held > 0 else Side.BUY
                amount = min(abs(held), amount)
            fields["reduce_only"] = True
            if rng.random() < 0.5:
                fields["type"] = OrderType.MARKET
        elif kind == "market":
            fields["type"] = OrderType.MARKET
        elif kind == "ioc":
            fields["time_in_force"] = TimeInForce.IOC
        elif kind == "post_only":
            fields["post_only"] = True
        if fields["type"] is OrderType.LIMIT:
            away = rng.randint(-300, 300)
            if kind == "ioc":
                away = -abs(away)  # priced through the book: it takes
            sign = -1 if side is Side.BUY else 1
            price = mid + sign * away * tick
            if rng.random() < 0.02:
                price += D("0.05")  # off the tick: a typed denial
            fields["price"] = price
        return OrderIntent(
            agent_id=agent,
            intent_id=self.next_id(agent),
            venue=VENUE,
            symbol=PERP,
            side=side,
            amount=amount,
            **fields,
        )

    def spot_intent(self, agent: str, side: Side, amount: Decimal | None = None) -> OrderIntent:
        rng = self.rng
        mid = self.world.market.mids[(VENUE, SPOT)]
        if amount is None:
            amount = D(rng.randint(60, 1000)) * D("0.00001")
            if side is Side.SELL:
                held = self.world.engine.ledger.position(agent, VENUE, SPOT)
                if held > 0 and rng.random() < 0.8:
                    amount = min(held, amount)
        if rng.random() < 0.3:
            return OrderIntent(
                agent_id=agent,
                intent_id=self.next_id(agent),
                venue=VENUE,
                symbol=SPOT,
                side=side,
                type=OrderType.MARKET,
                amount=amount,
            )
        sign = 1 if side is Side.BUY else -1
        price = mid + sign * rng.randint(-2000, 4000) * D("0.01")
        return OrderIntent(
            agent_id=agent,
            intent_id=self.next_id(agent),
            venue=VENUE,
            symbol=SPOT,
            side=side,
            type=OrderType.LIMIT,
            amount=amount,
            price=price,
            time_in_force=rng.choice((TimeInForce.GTC, TimeInForce.IOC)),
        )

    def arb_legs(self) -> list[OrderIntent]:
        """Return a funding-arbitrage pair: buy spot and sell the perpetual (or unwind both)."""
        amount = D(self.rng.randint(6, 30)) * D("0.001")
        held = self.world.engine.ledger.position("arb", VENUE, SPOT)
        unwind = held >= amount and self.rng.random() < 0.5
        spot = self.spot_intent("arb", Side.SELL if unwind else Side.BUY, amount)
        perp = OrderIntent(
            agent_id="arb",
            intent_id=self.next_id("arb"),
            venue=VENUE,
            symbol=PERP,
            side=Side.BUY if unwind else Side.SELL,
            type=OrderType.MARKET,
            amount=amount,
            reduce_only=unwind and self.world.engine.ledger.position("arb", VENUE, PERP) < 0,
        )
        return [spot, perp]


# -- THE DRIVER -----------------------------------------------------------------


class Driver:
    """Runs one seed: steps of market, faults, agent actions and checks."""

    def __init__(self, world: World, config: SimConfig) -> None:
        self.world = world
        self.config = config
        self.rng = random.Random(f"driver:{world.seed}")
        self.agents = Agents(world, random.Random(f"agents:{world.seed}"))
        self.intents = 0
        self.accepted = 0
        self.denied = 0
        self.steps = 0
        self._actions: list[tuple[Callable[[], Awaitable[None]], float]] = [
            (self.submit_new, 30),
            (self.submit_batch, 6),
            (self.repeat, 8),
            (self.conflict, 2),
            (self.cancel, 12),
            (self.cancel_before_submit, 2),
            (self.poll, 18),
            (self.kill, 0.4),
            (self.reset, 3),
        ]

    def note(self, line: str) -> None:
        self.world.note(line)

    async def step(self, number: int) -> bool:
        """Run one step; return False once an invariant is broken (the seed stops there)."""
        world, rng = self.world, self.rng
        self.steps += 1
        self.note(f"-- step {number} t={world.clock.now_ns()}")
        world.advance(rng.randint(100, 900))
        await world.tick_market()
        if rng.random() < 0.05:
            await world.funding()
        if not world.armed() and rng.random() < self.config.crash_rate:
            world.arm_crash(rng.choice(_ARMABLE), rng.randint(1, 3))
        if rng.random() < self.config.power_cut_rate:
            world.arm_power_cut(rng.randint(0, 2))
        actions, weights = zip(*self._actions, strict=True)
        await rng.choices(actions, weights)[0]()
        return self.check(number)

    def check(self, number: int, *, final: bool = False) -> bool:
        report = check_world(self.world, final=final)
        for kind, detail in report.violations:
            self.world.violate(kind, f"step {number}: {detail}")
        return not self.world.violations

    # -- actions --

    def _record(self, intent: OrderIntent, result: SubmitResult) -> None:
        self.intents += 1
        if result.order is not None:
            if result.order.client_order_id != intent.client_order_id:
                self.world.violate(
                    "idempotency",
                    f"{intent.intent_id} answered with order {result.order.client_order_id}",
                )
            # A retry after a crash may find the order the dead gateway placed: still new here.
            if self.agents.remember(intent):
                self.accepted += 1
            self.note(
                f"submit {_describe(intent)} -> {result.order.state} {result.client_order_id}"
                f"{' (duplicate)' if result.duplicate else ''}"
            )
        else:
            self.denied += 1
            reason = result.denial.reason if result.denial is not None else None
            self.note(f"submit {_describe(intent)} -> denied {reason}")
            if reason is DenialReason.NOT_READY:  # the call returned after recovery finished
                self.world.violate(
                    "liveness", f"{intent.intent_id} refused as not ready after recovery"
                )

    async def submit_new(self) -> None:
        intent = self.agents.new_intent(self.rng.choice(AGENTS))
        result = await self.world.call(f"submit {intent.intent_id}", lambda s: s.submit(intent))
        self._record(intent, result)

    async def submit_batch(self) -> None:
        legs = self.agents.arb_legs()
        results = await self.world.call("submit_many", lambda s: s.submit_many(legs))
        for intent, result in zip(legs, results, strict=True):
            self._record(intent, result)

    def _pick_accepted(self) -> OrderIntent | None:
        if not self.agents.accepted:
            return None
        return self.agents.accepted[self.rng.randrange(len(self.agents.accepted))]

    async def repeat(self) -> None:
        """Submit an accepted intent again: the same order comes back, nothing is sent."""
        intent = self._pick_accepted()
        if intent is None:
            return
        result = await self.world.call(f"repeat {intent.intent_id}", lambda s: s.submit(intent))
        state = result.order.state if result.order is not None else result.denial
        self.note(f"repeat {intent.intent_id} -> {state}")
        if not result.duplicate or result.client_order_id != intent.client_order_id:
            self.world.violate("idempotency", f"repeat of {intent.intent_id} was not a duplicate")

    async def conflict(self) -> None:
        """Submit an accepted intent id with another amount: ``IdempotencyConflict``."""
        intent = self._pick_accepted()
        if intent is None:
            return
        changed = intent.model_copy(update={"amount": intent.amount * 2})
        result = await self.world.call(f"conflict {intent.intent_id}", lambda s: s.submit(changed))
        reason = result.denial.reason if result.denial is not None else None
        self.note(f"conflict {intent.intent_id} -> {reason}")
        if reason is not DenialReason.IDEMPOTENCY_CONFLICT:
            self.world.violate("idempotency", f"{intent.intent_id} re-submitted changed: {reason}")

    async def cancel(self) -> None:
        intent = self._pick_accepted()
        if intent is None:
            return
        answer = await self.world.call(
            f"cancel {intent.intent_id}", lambda s: s.cancel(intent.agent_id, intent.intent_id)
        )
        shown = answer.reason if isinstance(answer, Denial) else getattr(answer, "state", None)
        self.note(f"cancel {intent.intent_id} -> {shown}")

    async def cancel_before_submit(self) -> None:
        """Cancel an intent before its submit arrives: the late submit is refused."""
        agent = self.rng.choice(AGENTS)
        intent = self.agents.new_intent(agent)
        await self.world.call(
            f"cancel {intent.intent_id}", lambda s: s.cancel(agent, intent.intent_id)
        )
        result = await self.world.call(f"submit {intent.intent_id}", lambda s: s.submit(intent))
        reason = result.denial.reason if result.denial is not None else None
        self.note(f"cancel-then-submit {intent.intent_id} -> {reason}")
        if result.order is not None:
            self.world.violate("idempotency", f"{intent.intent_id} was placed after its cancel")

    async def poll(self) -> None:
        counts = await self.world.call("poll", lambda s: s.poll())
        self.note(f"poll -> {counts} breaker={self.world.engine.breaker_state}")

    async def kill(self) -> None:
        state = await self.world.call("kill", lambda s: as_async(s.kill, "operator", "sim"))
        self.note(f"kill -> {state}")

    async def reset(self) -> None:
        if self.world.engine.breaker_state is not BreakerState.OPEN:
            return
        state = await self.world.call("reset", lambda s: as_async(s.reset, "operator", "sim"))
        self.note(f"reset -> {state}")

    # -- the end --

    async def settle(self) -> None:
        """Heal the network, cancel what is left, poll past every grace; then check all is settled."""
        world = self.world
        world.venue.quiesce()
        self.note("-- settle")
        for _ in range(2):
            world.advance(1000)
            await self.poll()
        snapshot = world.engine.snapshot()
        for order in snapshot.orders:  # liveness: whatever is in doubt was asked about
            if order.state in IN_DOUBT and not world.venue.queried.get(order.client_order_id):
                world.violate(
                    "liveness",
                    f"{order.client_order_id} ({order.intent_id}) is {order.state} and was never"
                    " asked about by client order id",
                )
        for order in snapshot.orders:
            if not order.state.is_terminal:
                answer = await world.call(
                    f"cancel {order.intent_id}", _canceller(order.agent_id, order.intent_id)
                )
                shown = getattr(answer, "state", answer)
                self.note(f"cancel {order.intent_id} -> {shown}")
        grace = world.engine_config.not_found_grace_ns if world.engine_config else 15 * NS_PER_S
        world.clock.advance(grace + NS_PER_S)
        for _ in range(3):
            world.advance(1000)
            await self.poll()
        verdicts = await world.call("reconcile", lambda s: s.reconcile())
        self.note(f"reconcile -> {verdicts}")
        if verdicts.get(VENUE) != "match":
            world.violate("conservation", f"the final reconciliation was {verdicts}")
        if world.engine.breaker_state is BreakerState.OPEN:  # a halt must say why
            durable = [(r.seq, r.type, r.payload) for r in Wal("probe", disk=world.disk).replay()]
            unexplained, cause = open_breaker_cause(durable)
            if unexplained:
                world.violate("liveness", unexplained)
            self.note(f"breaker left {cause}")
        self.check(self.steps, final=True)


def _canceller(
    agent: str, intent_id: str
) -> Callable[[GatewayService], Awaitable[OrderView | Denial | None]]:
    async def cancel(service: GatewayService) -> OrderView | Denial | None:
        return await service.cancel(agent, intent_id)

    return cancel


def _describe(intent: OrderIntent) -> str:
    price = f"@{intent.price}" if intent.price is not None else ""
    flags = "".join(
        (
            " po" if intent.post_only else "",
            " ro" if intent.reduce_only else "",
            f" {intent.time_in_force}" if intent.time_in_force is not TimeInForce.GTC else "",
        )
    )
    return f"{intent.intent_id} {intent.symbol} {intent.side} {intent.type} {intent.amount}{price}{flags}"


# -- RUNNING SEEDS --------------------------------------------------------------


async def run_seed_async(seed: int, config: SimConfig | None = None) -> SeedRun:
    """Run one seed to the end (or to its first broken invariant); return its result and log."""
    config = config or SimConfig()
    world = World(seed, config.faults, recovery_crash_rate=config.recovery_crash_rate)
    driver = Driver(world, config)
    world.note(f"seed {seed} steps {config.steps} faults {config.faults}")
    try:
        await world.start()
        for number in range(config.steps):
            if not await driver.step(number):
                break
        else:
            await driver.settle()
            if not world.violations:
                await world.corruption_drill()
    except Exception as exc:  # a bug in the gateway: report it as the seed's failure
        where = traceback.extract_tb(exc.__traceback__)[-1]
        world.violate("error", f"{type(exc).__name__}: {exc} at {where.filename}:{where.lineno}")
    return SeedRun(seed, _result(world, driver), world.log)


def _result(world: World, driver: Driver) -> SimResult:
    result = SimResult(seeds=1, steps=driver.steps)
    result.intents, result.accepted, result.denied = driver.intents, driver.accepted, driver.denied
    result.orders = len(world.paper.all_orders())
    result.corruption_drills = world.corruption_drills
    result.checkpoint_drills = world.checkpoint_drills
    result.checkpoints_written = world.checkpoints_written
    result.recovered_from_checkpoint = world.recovered_from_checkpoint
    result.fills = len(world.paper.my_trades())
    result.crashes = sum(world.crashes.values())
    result.crashes_by_point = dict(world.crashes)
    result.faults = dict(world.venue.counts)
    service = getattr(world, "service", None)  # None when the first boot itself raised
    for name in _SERVICE_STATS:
        current = getattr(service.stats, name) if service is not None else 0
        result.service[name] = world.service_totals.get(name, 0) + current
    seen: set[tuple[str, str]] = set()
    for kind, detail in world.violations:
        if (kind, detail) not in seen:
            seen.add((kind, detail))
            result.by_kind[kind] += 1
    if world.violations:
        result.failing_seeds.append(world.seed)
        result.first_failures[world.seed] = [f"{k}: {d}" for k, d in world.violations[:5]]
    if service is not None:
        world.note(f"snapshot {world.engine.snapshot().model_dump_json()}")
    result.digests.append(hashlib.blake2b("\n".join(world.log).encode()).hexdigest())
    return result


def run_seed(seed: int, config: SimConfig | None = None) -> SeedRun:
    """Run one seed in a fresh event loop."""
    return asyncio.run(run_seed_async(seed, config))


def run_seeds(seeds: Sequence[int], config: SimConfig | None = None) -> SimResult:
    """Run ``seeds`` one after the other in one event loop; return the merged counts."""

    async def all_seeds() -> SimResult:
        total = SimResult()
        for seed in seeds:
            total.merge((await run_seed_async(seed, config)).result)
        return total

    return asyncio.run(all_seeds())
