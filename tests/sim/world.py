"""One simulated machine: a clock, the paper venue behind ``FaultyVenue``, a simulated disk, the gateway.

``World`` owns the gateway's lifecycle the way the Ray actor's restarts would:
every call into the ``GatewayService`` goes through ``World.call``; when an
armed crash point fires (``crashpoints.SimulatedCrash``) or the power is cut in
an fsync (``disk.SimulatedCrash``), the world reboots the disk (tearing the
log's unsynced tail in the second case), builds a NEW engine and service over
the same disk, checks that the new service refuses orders before ``recover()``
has run, recovers it, checks that the breaker is not less safe than before,
and retries the call that died, as an agent retries after ``RayActorError``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from chaos.invariants import logged_breaker_state
from core.clock import NS_PER_MS, NS_PER_S, SimulatedClock
from core.events import FundingEvent, MarketEvent
from core.models import OrderType, Side
from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig
from exchanges.paper.ledger import LedgerKind
from exchanges.paper.venue import PaperVenue
from gateway.breaker import BreakerState, Trigger
from gateway.checkpoint import Checkpointer, CheckpointSettings, CheckpointStore
from gateway.crashpoints import POINTS, CrashPoints
from gateway.crashpoints import SimulatedCrash as PointCrash
from gateway.disk import SimulatedCrash as PowerCut
from gateway.disk import SimulatedDisk
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineConfig
from gateway.errors import WalCorruption
from gateway.intents import OrderIntent
from gateway.service import SETTLE_DELAYS_S, GatewayService
from gateway.wal import RecordType, Wal
from risk.checks import Denial, DenialReason
from risk.limits import RiskLimits
from tests.sim.faults import FaultRates, FaultyVenue
from tests.sim.market import SimMarket

T = TypeVar("T")
D = Decimal

VENUE = "binance"
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
AGENTS = ("mm", "arb", "hunter")
START_NS = 1_670_889_600 * NS_PER_S  # 2022-12-13 00:00 UTC, the recorded day
RESTART_NS = 3 * NS_PER_S
"""How long a restart takes: longer than any of the venue's visibility delays."""
VENUE_CASH = {"USDT": D(1_000_000)}
BUDGETS = {agent: D(8000) for agent in AGENTS}
SEGMENT_BYTES = 16 * 1024
"""Small segments, so that the sweep rolls segments and crashes across them."""
_COMPLETABLE = frozenset(
    {Trigger.RESET.value, Trigger.RESET_TO_CLOSED.value, Trigger.PROBES_PASSED.value}
)
MAX_RESTARTS_PER_CALL = 6


class TracingWal(Wal):
    """A ``Wal`` that remembers the last breaker transition appended to it (in doubt at a crash)."""

    last_breaker: dict[str, Any] | None = None

    def append(self, record_type: RecordType, payload: Mapping[str, Any]) -> int:
        self._trace(((record_type, payload),))
        return super().append(record_type, payload)

    def append_many(
        self, records: Iterable[tuple[RecordType, Mapping[str, Any]]], *args: Any, **kwargs: Any
    ) -> list[int]:
        batch = list(records)
        self._trace(batch)
        return super().append_many(batch, *args, **kwargs)

    def _trace(self, records: Iterable[tuple[RecordType, Mapping[str, Any]]]) -> None:
        for record_type, payload in records:
            if record_type is RecordType.BREAKER:
                self.last_breaker = dict(payload)


class World:
    """The machine the gateway runs on, and the outside world it trades with (see the module doc)."""

    def __init__(
        self,
        seed: int,
        faults: FaultRates | None = None,
        *,
        limits: RiskLimits | None = None,
        engine_config: EngineConfig | None = None,
        recovery_crash_rate: float = 0.0,
        log: list[str] | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(f"world:{seed}")
        self.clock = SimulatedClock(START_NS)
        config = PaperVenueConfig(liquidation_model=LiquidationModelConfig(enabled=False))
        self.paper = PaperVenue(VENUE, self.clock, seed=seed, config=config)
        for asset, amount in VENUE_CASH.items():
            self.paper.deposit(asset, amount)
        self.venue = FaultyVenue(
            self.paper, self.clock, random.Random(f"faults:{seed}"), faults or FaultRates.none()
        )
        self.disk = SimulatedDisk("sim-wal", seed=seed)
        self.markets = {(VENUE, s): m for s, m in self.paper.markets().items()}
        self.market = SimMarket(
            random.Random(f"market:{seed}"),
            VENUE,
            SPOT,
            PERP,
            self.markets[(VENUE, SPOT)].price_tick,
            self.markets[(VENUE, PERP)].price_tick,
        )
        self.limits = limits or RiskLimits()
        self.engine_config = engine_config
        self.checkpoint_every: int | None = self.rng.choice((None, 5, 17, 40))
        """Records between engine checkpoints (None: this seed recovers from the whole log)."""
        self.recovery_crash_rate = recovery_crash_rate
        self.log: list[str] = log if log is not None else []
        self.crashes: dict[str, int] = {}
        self.violations: list[tuple[str, str]] = []
        self.restarts = 0
        self.probes = 0
        self.corruption_drills = 0
        self.checkpoint_drills = 0
        self.checkpoints_written = 0
        self.recovered_from_checkpoint = 0
        """Readiness probes sent (before and during each recovery)."""
        self.adopted = False
        self.funding_in_doubt = False
        self.crash_next_recovery = False
        """Make the next recovery die at ``mid_recovery`` (once)."""
        self.service_totals: dict[str, int] = {}
        self.wal: TracingWal
        self.service: GatewayService

    # -- LIFECYCLE --------------------------------------------------------------

    @property
    def engine(self) -> GatewayEngine:
        return self.service.engine

    def note(self, line: str) -> None:
        self.log.append(line)

    def violate(self, kind: str, detail: str) -> None:
        self.violations.append((kind, detail))
        self.note(f"VIOLATION {kind}: {detail}")

    def build_service(self) -> GatewayService:
        engine = GatewayEngine(self.markets, self.limits, self.clock, config=self.engine_config)
        self.wal = TracingWal("sim-wal", disk=self.disk, segment_bytes=SEGMENT_BYTES)
        return GatewayService(
            engine=engine,
            wal=self.wal,
            venues={VENUE: self.venue},
            clock=self.clock,
            crash=CrashPoints(),
            sleep=self._sleep,
            settle_delays_s=SETTLE_DELAYS_S,
            checkpoints=self.checkpointer(),
        )

    def checkpointer(self) -> Checkpointer | None:
        """Checkpoints beside the WAL on the simulated disk, written inline (one thread):
        a power cut in their fsyncs leaves a torn temp file, never a half checkpoint.
        Segments are kept (the checks read the whole log)."""
        if self.checkpoint_every is None:
            return None
        settings = CheckpointSettings(
            every_records=self.checkpoint_every, every_s=None, retire="keep"
        )
        return Checkpointer(CheckpointStore(self.disk), settings, self.clock, offload=False)

    async def _sleep(self, seconds: float) -> None:
        """The gateway waits on the simulated clock (its re-asks at recovery let time pass)."""
        self.clock.advance(int(seconds * NS_PER_S))

    async def start(self) -> None:
        """Boot the gateway for the first time and give the agents their budgets."""
        await self._boot()
        await self.call("set_budgets", lambda s: as_async(s.set_budgets, BUDGETS))
        await self.tick_market()

    async def _boot(self) -> None:
        """Build a gateway over the disk and recover it, rebooting again if recovery itself dies."""
        for _ in range(MAX_RESTARTS_PER_CALL):
            service = self.build_service()
            await self.check_not_ready(service)
            dies = self.crash_next_recovery or (
                self.recovery_crash_rate > 0 and self.rng.random() < self.recovery_crash_rate
            )
            self.crash_next_recovery = False
            if dies:
                service.crash = CrashPoints.from_spec({"mid_recovery": 1})
            self._retire()
            self.service = service
            # Callers keep calling while recovery runs: probe at each of its venue calls.
            self.venue.on_call = functools.partial(self.check_not_ready, service)
            try:
                report = await service.recover()
            except (PointCrash, PowerCut) as exc:
                self._reboot_disk(exc, "recover")
                continue
            finally:
                self.venue.on_call = None
            recovery = service.stats.recovery
            self.recovered_from_checkpoint += recovery.get("checkpoint", 0) > 0
            verdict = recovery.get("reconciliation", {}).get(VENUE)
            self.note(
                f"recovered: replayed={recovery.get('replayed')} torn={report.torn_bytes}"
                f" resolved={recovery.get('resolved')} fills={recovery.get('fills')}"
                f" reconciliation={verdict} breaker={recovery.get('breaker')}"
            )
            if self.adopted and verdict != "match" and not self.funding_in_doubt:
                self.violate("conservation", f"recovery reconciliation was {verdict}, not match")
            self.adopted = True
            self.funding_in_doubt = False
            return
        raise RuntimeError(f"seed {self.seed}: recovery died {MAX_RESTARTS_PER_CALL} times")

    def _retire(self) -> None:
        """Keep the counts of the service being replaced (its stats die with it)."""
        old = getattr(self, "service", None)
        if old is None:
            return
        if old.checkpoints is not None:
            self.checkpoints_written += old.checkpoints.stats.written
        for name, value in vars(old.stats).items():
            if isinstance(value, int):
                self.service_totals[name] = self.service_totals.get(name, 0) + value

    async def check_not_ready(self, service: GatewayService) -> None:
        """Invariant 5: until ``recover()`` has finished the service accepts nothing.

        Called before recovery starts and at each venue call recovery makes (a
        caller's submit and cancel landing in the middle of it).
        """
        self.probes += 1
        probe = OrderIntent(
            agent_id=AGENTS[0],
            intent_id=f"not-ready-{self.restarts}-{self.probes}",
            venue=VENUE,
            symbol=PERP,
            side=Side.BUY,
            type=OrderType.MARKET,
            amount=D("0.01"),
        )
        before = len(self.paper.all_orders())
        result = await service.submit(probe)
        cancel = await service.cancel(probe.agent_id, probe.intent_id)
        reason = result.denial.reason if result.denial is not None else None
        if reason is not DenialReason.NOT_READY or result.order is not None:
            self.violate("accepted_before_recovery", f"submit answered {reason} before recover()")
        if not isinstance(cancel, Denial) or cancel.reason is not DenialReason.NOT_READY:
            self.violate("accepted_before_recovery", f"cancel answered {cancel!r} before recover()")
        if len(self.paper.all_orders()) != before:
            self.violate("accepted_before_recovery", "a venue order appeared before recover()")

    def _reboot_disk(self, exc: BaseException, during: str) -> None:
        if isinstance(exc, PowerCut):
            kept = self.disk.crash(tear=True)
            point = "power_cut"
            self.note(f"CRASH power cut in an fsync during {during}; unsynced bytes kept {kept}")
        else:
            assert isinstance(exc, PointCrash)
            self.disk.crash()
            point = exc.point
            self.note(f"CRASH at {point} during {during}")
        self.crashes[point] = self.crashes.get(point, 0) + 1
        self.restarts += 1
        self.clock.advance(RESTART_NS)

    async def crash_and_recover(self, exc: BaseException, during: str) -> None:
        """Reboot after ``exc``, recover, and check the breaker did not become less safe."""
        before = self.engine.breaker_state
        completable = _completable_state(self.wal.last_breaker)
        self._reboot_disk(exc, during)
        await self._boot()
        after = self.engine.breaker_state
        if breaker_regressed(before, after, completable):
            self.violate(
                "breaker_regression", f"{before} before the crash during {during}, {after} after"
            )
        # The durable truth, not the dead process's memory: the WAL's BREAKER records.
        durable = [(r.seq, r.type, r.payload) for r in Wal("probe", disk=self.disk).replay()]
        logged = logged_breaker_state(durable)
        if after is not logged:
            self.violate(
                "breaker_regression",
                f"recovered {after} after the crash during {during}, the WAL's records say {logged}",
            )
        await self.mark()

    async def corruption_drill(self) -> None:
        """Damage one byte of one committed record; a rebooted gateway must halt naming it.

        The record is drawn from the whole log (a middle one, or the complete last
        frame of the last segment); recovery must raise ``WalCorruption`` with that
        record's segment and offset, and cut nothing. Run once a seed has settled.
        """
        await self.checkpoint_drill()
        records = list(Wal("probe", disk=self.disk).replay())
        if not records:
            return
        target = records[self.rng.randrange(len(records))]
        later = [
            r.offset for r in records if r.segment == target.segment and r.offset > target.offset
        ]
        end = min(later) if later else len(self.disk.read(target.segment))
        position = target.offset + self.rng.randrange(end - target.offset)
        self.disk.corrupt(target.segment, position, xor=1 << self.rng.randrange(8))
        size = len(self.disk.read(target.segment))
        self.corruption_drills += 1
        where = f"{target.segment} byte {position} (record seq {target.seq} at {target.offset})"
        self.note(f"DRILL corrupt {where}")
        service = self.build_service()
        try:
            await service.recover()
        except WalCorruption as exc:
            if exc.offset != target.offset or not exc.path.endswith(target.segment):
                self.violate("wal_corruption_missed", f"{where}: the halt named {exc}")
        else:
            self.violate("wal_corruption_missed", f"{where}: recovery replayed it without a halt")
        if len(self.disk.read(target.segment)) != size:
            self.violate("wal_corruption_missed", f"{where}: recovery cut the segment")

    async def checkpoint_drill(self) -> None:
        """Damage one byte of the newest engine checkpoint; a rebooted gateway must fall back.

        Recovery must skip it (naming it), start from the older one or the whole log, and
        reach the state a replay of the whole log reaches: never less, never a halt.
        """
        store = CheckpointStore(self.disk)
        kept = store.sequences()
        if not kept:
            return
        self.disk._crash_at_fsync = None  # the seed is over: a power cut still armed is moot
        name = f"engine-checkpoint-{kept[-1]:020d}"
        size = len(self.disk.read(name))
        self.disk.corrupt(name, self.rng.randrange(size), xor=1 << self.rng.randrange(8))
        self.checkpoint_drills += 1
        self.note(f"DRILL corrupt checkpoint {name}")
        service = self.build_service()
        await service.recover()
        skipped = service.stats.recovery.get("checkpoints_skipped", [])
        if not skipped or name not in skipped[0]:
            self.violate("checkpoint_fallback", f"{name} damaged: recovery skipped {skipped}")
        replayed = GatewayEngine(self.markets, self.limits, self.clock, config=self.engine_config)
        for record in Wal("probe", disk=self.disk).replay():
            replayed.apply(record.type, record.payload)
        ours, whole = service.engine.snapshot(), replayed.snapshot()
        for part in ("orders", "tombstones", "venues", "counters", "breaker"):
            if getattr(ours, part) != getattr(whole, part):
                self.violate("checkpoint_fallback", f"{name} damaged: {part} differ from a replay")

    async def crash_now(self, *, power_cut: bool = False) -> None:
        """Kill the gateway between two calls: a SIGKILL, or with ``power_cut`` a power cut."""
        if power_cut:
            await self.crash_and_recover(PowerCut("power cut between calls"), "idle")
        else:
            await self.crash_and_recover(PointCrash("between_calls"), "idle")

    async def call(self, label: str, fn: Callable[[GatewayService], Awaitable[T]]) -> T:
        """Run ``fn`` on the gateway; after a crash, recover and run it again (the caller retries)."""
        for _ in range(MAX_RESTARTS_PER_CALL):
            try:
                return await fn(self.service)
            except (PointCrash, PowerCut) as exc:
                await self.crash_and_recover(exc, label)
        raise RuntimeError(f"seed {self.seed}: {label} crashed {MAX_RESTARTS_PER_CALL} times")

    # -- FAULTS THE DRIVER ARMS -----------------------------------------------------

    def arm_crash(self, point: str, count: int) -> None:
        """Crash the current gateway at the ``count``-th reach of ``point`` from now."""
        if point not in POINTS:
            raise ValueError(point)
        self.service.crash = CrashPoints.from_spec({point: count})
        self.note(f"arm {point}:{count}")

    def arm_power_cut(self, skip: int) -> None:
        """Cut the power in the fsync after ``skip`` more fsyncs (the log's tail may tear)."""
        self.disk.crash_at_next_fsync(skip)
        self.note(f"arm power_cut after {skip} fsyncs")

    def armed(self) -> bool:
        return bool(self.service.crash.armed)

    # -- THE MARKET -----------------------------------------------------------------

    def advance(self, ms: int) -> None:
        self.clock.advance(ms * NS_PER_MS)

    def feed(self, events: list[MarketEvent]) -> None:
        self.paper.on_market_events(events)

    async def mark(self) -> None:
        """Give the gateway the mids its risk checks need (volatile: again after each restart)."""
        mids = dict(self.market.mids)
        await self.call("mark", lambda s: as_async(s.mark, mids))

    async def tick_market(self) -> None:
        """Move the market one step, feed the venue, and mark the gateway."""
        self.feed(self.market.step(self.clock.now_ns()))
        await self.mark()

    async def funding(self) -> None:
        """Settle a funding print at the venue, then book the venue's payment in the gateway.

        Booked through ``GatewayService.on_funding`` (logged before it takes
        effect). A crash while booking leaves the payment to the recovery's
        reconciliation.
        """
        event = self.market.funding(self.clock.now_ns())
        self.feed([event])
        settled = _funding_paid(self.paper, event)
        try:
            decision = self.service.on_funding(
                VENUE,
                PERP,
                event.rate,
                event.mark_price or D(0),
                event.ts_ns // NS_PER_MS,
                settled=settled,
            )
            self.note(f"funding rate={event.rate} paid={settled} -> {decision.outcome}")
        except (PointCrash, PowerCut) as exc:
            self.funding_in_doubt = True
            await self.crash_and_recover(exc, "funding")


async def as_async(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a synchronous service method as ``World.call`` expects."""
    return fn(*args)


def _funding_paid(paper: PaperVenue, event: FundingEvent) -> Decimal:
    """Return what the venue booked for ``event`` (0 when nothing was held)."""
    ref = str(event.ts_ns)
    return sum(
        (
            e.amount
            for e in paper.ledger()
            if e.kind is LedgerKind.FUNDING and e.ref == ref and e.symbol == event.symbol
        ),
        D(0),
    )


def breaker_regressed(
    before: BreakerState, after: BreakerState, completable: BreakerState | None
) -> bool:
    """Tell whether a restart left the breaker less safe than before, beyond what the log allows."""
    return after.safety < before.safety and after is not completable


def _completable_state(last_breaker: Mapping[str, Any] | None) -> BreakerState | None:
    """Return the state a logged reset or probes-passed may reach after replay, if one was logged.

    The breaker's contract: such a decision was durable, so recovery carries it
    out even if the dead process never applied it; it is the one way a restart
    may end less safe than the dead process was. (If it had been applied, the
    state before the crash is already that state or a later one.)
    """
    if last_breaker is not None and last_breaker.get("trigger") in _COMPLETABLE:
        return BreakerState(last_breaker["to_state"])
    return None
