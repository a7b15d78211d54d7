"""The gateway's order path: engine decisions, the WAL, the venues, in the order DESIGN.md fixes.

``GatewayService`` is what the ``gateway`` actor runs and what the deterministic
simulation drives in one process: it imports no Ray. Its ports are injected: the
WAL (on a real or simulated disk), one ``Exchange`` per venue (a ccxt adapter, the
paper venue, a remote paper venue actor, or a fault-injecting wrapper), the clock,
the crash points and an optional audit sink.

Every path follows the same rule: the engine decides, the decision's records are
appended to the WAL and fsynced, *then* applied, *then* the venue is called; the
venue's answer is another decision, logged the same way. A crash anywhere leaves
a WAL from which ``recover`` rebuilds the state and asks the venue about whatever
it cannot know. A create is never sent twice: after a restart an unanswered
order is resolved by asking the venue for its client order id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from core.clock import Clock
from core.errors import (
    DeniedError,
    OrderNotFound,
    OutcomeUnknownError,
    RetryableError,
    SwarmError,
)
from core.events import FundingPayment
from core.metrics import OrderMetrics
from core.models import Balances, Frozen, Order, OrderRequest, Position, Trade
from core.money import ZERO, Dec
from exchanges.port import BatchCreates, Exchange
from gateway.breaker import BreakerState, TripReason
from gateway.checkpoint import Checkpointer, Restored, replay_after, restore_latest
from gateway.crashpoints import INERT, CrashPoints
from gateway.engine import GatewayEngine
from gateway.engine_records import WalRecord
from gateway.engine_types import (
    FILL_LOOKBACK_MS,
    CancelAction,
    CancelFailure,
    Denied,
    EventDecision,
    EventOutcome,
    Existing,
    FailureKind,
    ResolveAction,
    Send,
    failure_from_error,
)
from gateway.intents import OrderIntent
from gateway.orders import OrderView
from gateway.wal import RecoveryReport, Wal
from gateway.wal_format import RecordType
from risk.checks import Denial
from risk.reconcile import Verdict

log = logging.getLogger(__name__)

SETTLE_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Waits before re-asking a venue whose books differ at recovery (31.5 s in all): long
enough for trades a venue reports late, short enough that a real difference halts soon."""


class AuditSink(Protocol):
    """Where logged records go for the audit projection (batched, off the critical path)."""

    def add(self, first_seq: int, records: Sequence[WalRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The answer to one intent: its order, or why it was refused (nothing reserved then)."""

    client_order_id: str | None
    order: OrderView | None = None
    denial: Denial | None = None
    duplicate: bool = False

    @property
    def accepted(self) -> bool:
        return self.order is not None


class AgentAccount(Frozen):
    """What an agent may know of itself: its orders, positions, budget and the breaker's state."""

    agent_id: str
    orders: tuple[OrderView, ...]
    positions: dict[str, Dec]  # "venue|symbol" -> signed contracts (spot: base units)
    budget: Dec
    free: Dec
    breaker: BreakerState


@dataclass
class ServiceStats:
    submits: int = 0
    duplicates: int = 0
    denials: int = 0
    sends: int = 0
    unknown_outcomes: int = 0
    fills: int = 0
    duplicate_fills: int = 0
    cancels: int = 0
    resolved: int = 0
    records: int = 0
    recovery: dict[str, Any] = field(default_factory=dict)
    orders: OrderMetrics = field(default_factory=OrderMetrics)
    """Counters by outcome and the submit / WAL-commit latency histograms (``core.metrics``)."""


class GatewayService:
    """The one order path of Swarm (see the module doc)."""

    def __init__(
        self,
        *,
        engine: GatewayEngine,
        wal: Wal,
        venues: Mapping[str, Exchange],
        clock: Clock,
        crash: CrashPoints = INERT,
        audit: AuditSink | None = None,
        on_record: Callable[[Sequence[WalRecord]], None] | None = None,
        timer: Callable[[], int] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        settle_delays_s: Sequence[float] = SETTLE_DELAYS_S,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        """``timer`` (ns) measures the latency metrics; default ``clock.now_ns`` (a market
        clock then gives simulated latencies; pass ``time.perf_counter_ns`` for real ones).
        ``sleep`` waits between the re-asks of a reconciliation that does not match at once
        (``settle_delays_s``, see ``reconcile``); a simulation passes one that moves its clock.
        ``checkpoints``: recovery starts from the newest readable checkpoint, and the engine
        is checkpointed at its interval (``gateway.checkpoint``); None: replay the whole log."""
        self.engine = engine
        self.wal = wal
        self.venues = dict(venues)
        self.clock = clock
        self.crash = crash
        self.audit = audit
        self._on_record = on_record
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._in_flight: set[str] = set()
        self._fill_cursor_ms: dict[str, int | None] = dict.fromkeys(self.venues)
        self.stats = ServiceStats()
        self._metrics = self.stats.orders
        self._timer = timer if timer is not None else clock.now_ns
        self._outboxes: dict[str, _Outbox] = {}
        self._sleep = sleep
        self._settle_delays_s = tuple(settle_delays_s)
        self.checkpoints = checkpoints

    # -- LOGGING ------------------------------------------------------------

    def _log(self, records: Sequence[WalRecord], crash_point: str | None = None) -> None:
        """Append and fsync ``records``, then apply them: the WAL before any effect.

        Synchronous on purpose: no other coroutine can run between the commit and
        the apply, so records take effect in WAL order. The fsync runs inline on
        the event loop: measured here, a writer thread's hand-offs cost more
        (about 1 ms a commit under three callers) than the 0.15-0.3 ms fsync.
        """
        if not records:
            return
        self.crash.reach("before_wal_append")
        started = self._timer()
        seqs = self.wal.append_many(records)
        self._metrics.wal_commit_latency.observe(self._elapsed(started))
        self.crash.reach("after_wal_append")
        if crash_point is not None:
            self.crash.reach(crash_point)
        if self.audit is not None:  # first: a failing apply must not leave a hole in the projection
            self.audit.add(seqs[0], records)
        self.engine.apply_all(records)
        self.stats.records += len(records)
        if self._on_record is not None:
            self._on_record(records)
        if self.checkpoints is not None and self.engine.ready:
            self.checkpoints.note(len(records), self.engine, self.wal)

    def _elapsed(self, started: int) -> int:
        """Nanoseconds since ``started``; a wall clock stepped back counts 0, never breaks an order."""
        return max(0, self._timer() - started)

    def _lock(self, venue: str, symbol: str) -> asyncio.Lock:
        key = (venue, symbol)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _outbox(self, name: str, venue: Exchange) -> _Outbox:
        outbox = self._outboxes.get(name)
        if outbox is None:
            outbox = self._outboxes[name] = _Outbox(venue)
        return outbox

    def _venue(self, name: str) -> Exchange:
        venue = self.venues.get(name)
        if venue is None:
            raise DeniedError(f"venue={name!r}: not configured in this gateway")
        return venue

    # -- RECOVERY -----------------------------------------------------------

    async def recover(self) -> RecoveryReport:
        """Replay the WAL, ask the venues about every open question, reconcile, then accept orders.

        A corrupt WAL raises ``WalCorruption`` (halt): the caller keeps the
        gateway closed with the breaker OPEN.
        """
        started = self.clock.now_ns()
        restored = Restored(0)
        if self.checkpoints is not None:
            restored = restore_latest(self.engine, self.checkpoints.store)
        start = restored.upto_seq
        replayed = replay_after(self.wal, self.engine, start, self.audit)
        for name in self.venues:  # the fill cursor is durable: the log's newest trade
            newest = self.engine.newest_trade_ms(name)
            if self._fill_cursor_ms.get(name) is None and newest is not None:
                self._fill_cursor_ms[name] = newest - FILL_LOOKBACK_MS
        report = self.wal.report
        assert report is not None
        self.crash.reach("mid_recovery")
        resolved = await self.resolve_unresolved()
        fills = await self.poll_fills()
        verdicts = await self.reconcile(settle=True)
        marks = await self.refresh_marks()
        self.engine.finish_recovery()
        self.stats.recovery = {
            "checkpoint": start,
            "checkpoints_skipped": list(restored.skipped),
            "replayed": replayed,
            "torn_bytes": report.torn_bytes,
            "resolved": resolved,
            "fills": fills,
            "reconciliation": verdicts,
            "marks": marks,
            "breaker": str(self.engine.breaker_state),
            "took_ns": self.clock.now_ns() - started,
        }
        log.info("gateway recovered: %s", self.stats.recovery)
        return report

    async def resolve_unresolved(self) -> int:
        """Ask the venues about every order only they can resolve; return how many were settled."""
        settled = 0
        for item in self.engine.unresolved():
            if item.client_order_id in self._in_flight:
                continue
            venue = self._venue(item.venue)
            if item.action is ResolveAction.CANCEL:
                await self._send_cancel(
                    item.venue, item.symbol, item.client_order_id, item.venue_order_id
                )
                settled += 1
                continue
            answer: Order | None
            before = self.engine.order(item.client_order_id)
            try:
                answer = await venue.fetch_order(item.symbol, client_order_id=item.client_order_id)
            except OrderNotFound:
                answer = None
            except (RetryableError, OutcomeUnknownError) as exc:
                log.warning("cannot resolve %s yet: %s", item.client_order_id, exc)
                continue
            decision = self.engine.on_order_status(item.client_order_id, answer)
            if self._overtaken(item.client_order_id, before, decision):
                continue  # asked again at the next poll if still unresolved
            self._log(decision.records)
            settled += bool(decision.records)
        self.stats.resolved += settled
        return settled

    async def poll_fills(self) -> int:
        """Fetch our trades from every venue and apply the new ones (each trade id once).

        The cursor trails the newest trade seen by ``FILL_LOOKBACK_MS``: venues
        report some trades late, stamped with their (older) execution time, and a
        cursor at the newest trade would skip them for good. Re-fetched trades
        are deduplicated by trade id. Trades are applied oldest first, so the newest
        trade logged (where a restart's cursor starts: ``recover``) never passes one
        fetched and not yet logged.
        """
        applied = 0
        for name, venue in self.venues.items():
            cursor = self._fill_cursor_ms.get(name)
            try:
                trades = await venue.fetch_my_trades(None, cursor)
            except (RetryableError, OutcomeUnknownError) as exc:
                log.warning("fills of %s not fetched: %s", name, exc)
                continue
            newest: int | None = None
            for trade in sorted(trades, key=_timestamp):
                self.crash.reach("mid_fill")
                decision = self.engine.on_fill(trade)
                if decision.records:
                    self._log(decision.records)
                    applied += 1
                else:
                    self.stats.duplicate_fills += 1
                if newest is None or trade.timestamp > newest:
                    newest = trade.timestamp
            if newest is not None:
                trailing = newest - FILL_LOOKBACK_MS
                if cursor is None or trailing > cursor:  # never moves back
                    self._fill_cursor_ms[name] = trailing
        self.stats.fills += applied
        self._metrics.fills += applied
        return applied

    async def reconcile(self, *, settle: bool = False) -> dict[str, str]:
        """Compare each venue's balances and positions with the gateway's; log the verdicts.

        With ``settle`` (recovery), a venue the gateway already knows that does
        not match at once is asked again after each of ``settle_delays_s``
        (0.5 s doubling to 16 s: 31.5 s in all), with its orders resolved and
        its fills polled in between: a venue reports trades after it books
        them (seconds, more after its own restart), and a difference made of
        fills in transit vanishes once they arrive. Only the verdict after the
        window is logged, so a halt names a difference that persisted. A
        venue's first reconciliation adopts its books and never waits.
        """
        verdicts: dict[str, str] = {}
        for name, venue in self.venues.items():
            waits = list(self._settle_delays_s) if settle and self.engine.reconciled(name) else []
            asked = 1
            while True:
                balances, positions = await self._account_reports(name, venue)
                decision = self.engine.reconcile(name, balances, positions)
                if decision.result.verdict is Verdict.MATCH or not waits:
                    break
                await self._sleep(waits.pop(0))
                await self.resolve_unresolved()
                await self.poll_fills()
                asked += 1
            if asked > 1:
                log.info(
                    "reconciliation of %s: %s after %d asks", name, decision.result.verdict, asked
                )
            self._log(decision.records)
            verdicts[name] = str(decision.result.verdict)
        return verdicts

    async def _account_reports(
        self, name: str, venue: Exchange
    ) -> tuple[Balances | None, list[Position] | None]:
        """Return the venue's balances and positions; None where that report failed."""
        try:
            balances = await venue.fetch_balance()
        except SwarmError as exc:
            log.warning("balance of %s not reported: %s", name, exc)
            balances = None
        try:
            positions = await venue.fetch_positions()
        except SwarmError as exc:
            log.warning("positions of %s not reported: %s", name, exc)
            positions = None
        return balances, positions

    async def refresh_marks(self) -> int:
        """Mark every market from the venue's ticker: marks are not logged, so a restart needs fresh ones.

        Until the feed's next mark, the gateway prices risk checks with these.
        """
        prices: dict[tuple[str, str], Decimal] = {}
        for venue_name, symbol in self.engine.market_keys:
            try:
                ticker = await self._venue(venue_name).fetch_ticker(symbol)
            except Exception as exc:  # no price is no mark: risk checks then deny, never guess
                log.warning("no ticker for %s %s: %s", venue_name, symbol, exc)
                continue
            if ticker.bid is not None and ticker.ask is not None:
                prices[(venue_name, symbol)] = (ticker.bid + ticker.ask) / 2
            elif ticker.last is not None:
                prices[(venue_name, symbol)] = ticker.last
        if prices:
            self.mark(prices)
        return len(prices)

    # -- ORDERS -------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> SubmitResult:
        """Submit one intent; a repeated intent returns its current order and sends nothing.

        The symbol's lock covers the decision and its WAL commit (the reservation
        takes effect there); the venue round trip runs outside it, so concurrent
        agents overlap their sends instead of queueing behind each other.
        """
        started = self._timer()
        self.stats.submits += 1
        self._metrics.submitted += 1
        try:
            async with self._lock(intent.venue, intent.symbol):
                decision = self.engine.submit(intent)
                if isinstance(decision, Existing):
                    self.stats.duplicates += 1
                    self._metrics.duplicates += 1
                    order = decision.order
                    return SubmitResult(order.client_order_id, order, duplicate=True)
                if isinstance(decision, Denied):
                    self.stats.denials += 1
                    self._metrics.deny(decision.denial.reason)
                    return SubmitResult(decision.client_order_id, denial=decision.denial)
                self._log(decision.records)
                send = self.engine.claim_send(decision.client_order_id)
            if send:
                await self._send([decision])
            cid = decision.client_order_id
            return SubmitResult(cid, self.engine.order(cid))
        finally:
            self._metrics.submit_latency.observe(self._elapsed(started))

    async def submit_many(self, intents: Sequence[OrderIntent]) -> list[SubmitResult]:
        """Submit a batch with one WAL commit and one venue round trip per venue."""
        started = self._timer()
        self.stats.submits += len(intents)
        self._metrics.submitted += len(intents)
        keys = sorted({(i.venue, i.symbol) for i in intents})
        locks = [self._lock(*key) for key in keys]
        for lock in locks:  # in sorted order: two batches never wait on each other
            await lock.acquire()
        try:
            batch = self.engine.submit_many(intents)
            self._log(batch.records)
            sends = [s for s in batch.sends if self.engine.claim_send(s.client_order_id)]
        finally:
            for lock in reversed(locks):
                lock.release()
        by_venue: dict[str, list[Send]] = {}
        for send in sends:
            by_venue.setdefault(send.venue, []).append(send)
        await asyncio.gather(*(self._send(group) for group in by_venue.values()))
        results: list[SubmitResult] = []
        for decision in batch.decisions:
            if isinstance(decision, Denied):
                self.stats.denials += 1
                self._metrics.deny(decision.denial.reason)
                results.append(SubmitResult(decision.client_order_id, denial=decision.denial))
            elif isinstance(decision, Existing):
                self.stats.duplicates += 1
                self._metrics.duplicates += 1
                results.append(
                    SubmitResult(decision.order.client_order_id, decision.order, duplicate=True)
                )
            else:
                results.append(
                    SubmitResult(
                        decision.client_order_id, self.engine.order(decision.client_order_id)
                    )
                )
        elapsed = self._elapsed(started)  # every order of the batch waited for the whole call
        for _ in intents:
            self._metrics.submit_latency.observe(elapsed)
        return results

    async def _send(self, sends: Sequence[Send]) -> None:
        """Send creates of one venue (one round trip when the venue takes a batch); log each answer."""
        venue = self._venue(sends[0].venue)
        cids = [s.client_order_id for s in sends]
        self._in_flight.update(cids)
        before = {cid: self.engine.order(cid) for cid in cids}
        overtaken: list[Send] = []
        try:
            self.crash.reach("before_send")
            self.stats.sends += len(sends)
            self._metrics.sent += len(sends)
            answers = await self._outbox(sends[0].venue, venue).create([s.request for s in sends])
            self.crash.reach("after_send")  # the venue has the order; no answer logged
            records: list[WalRecord] = []
            for send, answer in zip(sends, answers, strict=True):
                cid = send.client_order_id
                if isinstance(answer, BaseException):
                    failure = failure_from_error(answer)
                    if failure.kind is FailureKind.UNKNOWN:
                        self.stats.unknown_outcomes += 1
                        self._metrics.unknown += 1
                    else:
                        self._metrics.rejected += 1
                    decision = self.engine.on_result(cid, failure)
                else:
                    self._metrics.accepted += 1
                    decision = self.engine.on_result(cid, answer)
                    if self._overtaken(cid, before[cid], decision):
                        overtaken.append(send)
                        continue
                records.extend(decision.records)
            # The answers durable, not applied, the callers not answered: a state of its own.
            self._log(records, crash_point="after_result_logged")
        finally:
            self._in_flight.difference_update(cids)
        for send in overtaken:
            await self._query_again(venue, send.request.symbol, send.client_order_id)

    def _overtaken(self, cid: str, before: OrderView | None, decision: EventDecision) -> bool:
        """Tell whether ``decision`` contradicts a fact applied to ``cid`` while its answer travelled.

        Concurrent calls apply facts (a fill, a cancel's answer) to an order
        while the venue's answer to another call about it is on its way back:
        an "open" sent before the fill is stale, not a venue protocol error.
        Such a decision is dropped (the caller asks again); a contradiction
        with what the gateway held before the call still trips the breaker.
        """
        return decision.outcome is EventOutcome.CONTRADICTION and self.engine.order(cid) != before

    async def _query_again(self, venue: Exchange, symbol: str, cid: str) -> None:
        """Ask the venue for an order whose answer was overtaken; log what the fresh one decides."""
        before = self.engine.order(cid)
        try:
            answer = await venue.fetch_order(symbol, client_order_id=cid)
        except (OrderNotFound, RetryableError, OutcomeUnknownError) as exc:
            log.warning("order %s: status not known after an overtaken answer: %s", cid, exc)
            return
        decision = self.engine.on_order_status(cid, answer)
        if not self._overtaken(cid, before, decision):
            self._log(decision.records)

    async def cancel(self, agent_id: str, intent_id: str) -> OrderView | Denial | None:
        """Cancel an intent's order; before its submit, leave a tombstone so the late submit is refused."""
        self.stats.cancels += 1
        decision = self.engine.cancel(agent_id, intent_id)
        if decision.action is CancelAction.DENIED:
            return decision.denial
        if decision.action is CancelAction.TOMBSTONE:
            self._log(decision.records)
            return None
        if decision.action is CancelAction.NOOP:
            return self.engine.order(decision.client_order_id) if decision.client_order_id else None
        request = decision.request
        assert request is not None
        async with self._lock(request.venue, request.symbol):
            self._log(decision.records, crash_point="mid_cancel")
            await self._send_cancel(
                request.venue, request.symbol, request.client_order_id, request.venue_order_id
            )
        return self.engine.order(request.client_order_id)

    async def _send_cancel(
        self, venue_name: str, symbol: str, cid: str, venue_order_id: str | None
    ) -> None:
        venue = self._venue(venue_name)
        answer: Order | CancelFailure
        try:
            answer = await venue.cancel_order(symbol, id=venue_order_id, client_order_id=cid)
        except OrderNotFound:
            answer = CancelFailure.NOT_FOUND
        except DeniedError:
            answer = CancelFailure.REFUSED
        except (SwarmError, Exception) as exc:  # a dead venue actor is not a core error: unknown
            log.warning("cancel of %s: outcome unknown: %s", cid, exc)
            answer = CancelFailure.UNKNOWN
        self.crash.reach("mid_cancel")
        decision = self.engine.on_cancel_result(cid, answer)
        self._log(decision.records)
        if answer is CancelFailure.NOT_FOUND and not decision.records:
            # The venue no longer has it open (filled, expired, or canceled already by
            # a cancel whose answer was lost): its order status settles it.
            before = self.engine.order(cid)
            try:
                order = await venue.fetch_order(symbol, client_order_id=cid)
            except (OrderNotFound, RetryableError, OutcomeUnknownError) as exc:
                log.warning("order %s: status not known yet after not-found cancel: %s", cid, exc)
                return
            status = self.engine.on_order_status(cid, order)
            if not self._overtaken(cid, before, status):
                self._log(status.records)

    def agent_account(self, agent_id: str, intent_ids: Iterable[str] = ()) -> AgentAccount:
        """Return ``agent_id``'s open orders (and those of ``intent_ids``, whatever their state) and books."""
        orders = self.engine.agent_orders(agent_id, frozenset(intent_ids))
        view = self.engine.agent_view(agent_id)
        positions = {f"{p.venue}|{p.symbol}": p.contracts for p in view.positions} if view else {}
        return AgentAccount(
            agent_id=agent_id,
            orders=orders,
            positions=positions,
            budget=view.budget if view else ZERO,
            free=view.free if view else ZERO,
            breaker=self.engine.breaker_state,
        )

    # -- BUDGETS, MARKS, BREAKER --------------------------------------------

    def set_budgets(self, budgets: Mapping[str, Decimal]) -> None:
        self._log(self.engine.set_budgets(budgets).records)

    def log_council(
        self, decision: Mapping[str, Any], budgets: Mapping[str, Decimal] | None
    ) -> None:
        """Log a council decision with its inputs and, in the same commit, the budgets it sets."""
        records: list[WalRecord] = [(RecordType.COUNCIL, dict(decision))]
        if budgets:
            records.extend(self.engine.set_budgets(budgets).records)
        self._log(records)

    def mark(self, prices: Mapping[tuple[str, str], Decimal]) -> None:
        self._log(self.engine.mark(prices).records, crash_point="mid_breaker_transition")

    def on_funding(
        self,
        venue: str,
        symbol: str,
        rate: Decimal,
        mark_price: Decimal,
        funding_timestamp: int,
        settled: Decimal | None = None,
    ) -> EventDecision:
        """Book a funding settlement on the agents' perp positions (logged first); return the decision."""
        decision = self.engine.on_funding(
            venue, symbol, rate, mark_price, funding_timestamp, settled=settled
        )
        self._log(decision.records)
        return decision

    def book_funding(self, payment: FundingPayment) -> EventDecision:
        """Book what a venue paid or received on the account for one funding print."""
        return self.on_funding(
            payment.venue,
            payment.symbol,
            payment.rate,
            payment.mark_price,
            payment.ts_ns // 1_000_000,  # the funding time in ms, as venues give it
            settled=payment.amount,
        )

    def kill(self, operator: str, detail: str = "") -> str:
        """Trip the breaker by hand (DRAINING, then OPEN once nothing is in flight)."""
        self._log(
            self.engine.trip(TripReason.MANUAL_KILL, detail, operator).records,
            crash_point="mid_breaker_transition",
        )
        return str(self.engine.breaker_state)

    def reset(self, operator: str, detail: str = "") -> str:
        """Reset an OPEN breaker (to HALF_OPEN probes by default)."""
        self._log(self.engine.reset(operator, detail).records, crash_point="mid_breaker_transition")
        return str(self.engine.breaker_state)

    def tick(self) -> None:
        """Let time-driven breaker transitions happen (DRAINING -> OPEN when drained)."""
        self._log(self.engine.breaker_tick().records, crash_point="mid_breaker_transition")

    async def poll(self) -> dict[str, int]:
        """One housekeeping round: new fills, unresolved orders, breaker time."""
        fills = await self.poll_fills()
        resolved = await self.resolve_unresolved()
        self.tick()
        return {"fills": fills, "resolved": resolved}


class _Outbox:
    """Creates bound for one venue: those that queue up while a round trip is out go together in the next.

    Concurrent agents then share venue round trips the way they share fsyncs: a
    lone order goes at once, a crowd goes as one batch. Each order keeps its own
    answer (an order or the exception the venue raised for it).
    """

    def __init__(self, venue: Exchange) -> None:
        self._venue = venue
        self._queue: list[tuple[OrderRequest, asyncio.Future[Order | BaseException]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def create(self, requests: Sequence[OrderRequest]) -> list[Order | BaseException]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Order | BaseException]] = [
            loop.create_future() for _ in requests
        ]
        self._queue.extend(zip(requests, futures, strict=True))
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._drain())
        return [await future for future in futures]

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                answers = await _create_orders(self._venue, [request for request, _ in batch])
            except BaseException as exc:  # cancelled with the actor: every answer is unknown
                answers = [exc] * len(batch)
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
                raise
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)


async def _create_orders(
    venue: Exchange, requests: Sequence[OrderRequest]
) -> list[Order | BaseException]:
    """Create ``requests`` on one venue; each answer is an order or the exception it raised.

    A venue with a batch call (``BatchCreates``: the paper venue actor) gets one round trip;
    otherwise the creates go out concurrently.
    """
    if isinstance(venue, BatchCreates) and len(requests) > 1:
        try:
            answers: list[Order | BaseException] = list(await venue.create_orders(list(requests)))
            return answers
        except Exception as exc:  # the whole round trip failed: every order's outcome is unknown
            return [exc] * len(requests)
    results = await asyncio.gather(
        *(venue.create_order(r) for r in requests), return_exceptions=True
    )
    return [
        r if isinstance(r, Order | BaseException) else TypeError(f"not an order: {r!r}")
        for r in results
    ]


def _timestamp(trade: Trade) -> int:
    return trade.timestamp
