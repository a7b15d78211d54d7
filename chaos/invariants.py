"""DESIGN.md's invariants over a system's record: the pure core of ``python -m chaos.check``.

Contract
    ``check(evidence)`` reads three records of the same run and changes none:
    the WAL (its records, and the pure ``GatewayEngine`` the caller rebuilt by
    replaying them), the venue's record (its orders, trades, ledger check,
    balances and positions) and, when readable, the duckdb audit store. It
    returns one ``InvariantResult`` per invariant, always in ``INVARIANTS``
    order, each with how many things it checked and every violation found
    (described so that an operator can find the order, trade or record).

The invariants (DESIGN.md numbers):

- ``duplicates`` (1): at most one venue order per intent — venue orders are
  mapped through the WAL's INTENT records to their (agent, intent id), so two
  venue orders for one intent are a duplicate whatever client order ids they
  carry; at most one INTENT record per client order id and per intent.
- ``lost`` (2): every venue order with our prefix maps to a WAL intent; every
  order the venue acknowledged (in the WAL) exists at the venue; with
  ``final``, every intent is terminal, UNKNOWN and still tracked, or open at
  the venue.
- ``conservation`` (3): the venue's own ledger conserves; the gateway's books
  conserve; when the gateway has applied every trade the venue made
  ("synced"), its mirror of each venue account equals the venue's balances
  and positions exactly (Decimal). Not synced at the end (``final``) is a
  violation; not synced mid-run is reported, not counted.
- ``breaker`` (4): every BREAKER record is an allowed transition from the
  state the previous one left, nothing moves to a less safe state except an
  operator's reset or passed probes, and the running gateway is never less
  safe than its WAL says.
- ``fills_once`` (6): one FILL record per (venue, trade id); each booked
  trade is one the venue made, for the same client order id and amount;
  each order's filled amount equals its trades'.
- ``reservations`` (7): every live reservation belongs to a non-terminal
  order (a terminal order reserves nothing, none reserves more than it took
  or less than zero), and each agent's reserved total is its orders' sum.
- ``liveness`` (8): a breaker the WAL leaves OPEN names the record that
  opened it (its sequence and reason are printed); with ``final``, an order
  left in flight (PENDING, UNKNOWN, CANCEL_PENDING) is listed as a note.
- ``audit``: the audit store is a prefix of the WAL: no order, fill or
  record it holds is unknown to the WAL, and nothing the WAL holds up to the
  store's last sequence is missing from it.

Invariant 5 (no order accepted before recovery) leaves no trace in these
records; the gateway enforces it (``GatewayNotReady``) and the deterministic
simulation checks it at every restart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from core.models import Order, Trade
from core.money import ZERO
from gateway.breaker import TRANSITIONS, BreakerState, Trigger
from gateway.engine import GatewayEngine
from gateway.intents import CLIENT_ORDER_ID_PREFIX
from gateway.orders import OrderState
from gateway.wal_format import RecordType

INVARIANTS: Final = (
    "duplicates",
    "lost",
    "conservation",
    "breaker",
    "fills_once",
    "reservations",
    "liveness",
    "audit",
)
SAFE_DOWNWARD: Final = frozenset({Trigger.RESET, Trigger.RESET_TO_CLOSED, Trigger.PROBES_PASSED})
"""The only ways to a less safe breaker state: an operator's reset, or probes that passed."""
_ACKNOWLEDGED: Final = frozenset({OrderState.OPEN, OrderState.PARTIALLY_FILLED, OrderState.FILLED})
"""States only a venue's answer leads to: the venue must hold the order. (A cancel may be
pending on an order whose create is still unknown, so CANCEL_PENDING is not among them.)"""


@dataclass(frozen=True)
class VenueRecord:
    """What one venue says happened: its orders and trades, its ledger check, its account."""

    orders: Sequence[Order]
    trades: Sequence[Trade]
    conservation_errors: Sequence[str] = ()
    balances: Mapping[str, Decimal] = field(default_factory=dict)
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    ledger: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    """The venue's cash ledger per asset and kind (names a mismatch's likely cause)."""


@dataclass(frozen=True)
class AuditRecord:
    """What the audit store holds: its last sequence, orders (cid -> intent seq), fills, records."""

    last_seq: int
    orders: Mapping[str, int]
    fills: Sequence[tuple[str, str, int]]
    """(venue, trade id, seq) of each fill row."""
    records: int


@dataclass(frozen=True)
class Evidence:
    """Everything ``check`` reads (see the module doc)."""

    records: Sequence[tuple[int, RecordType, Mapping[str, Any]]]
    """The WAL as (seq, type, payload), in order."""
    engine: GatewayEngine
    venues: Mapping[str, VenueRecord]
    audit: AuditRecord | None = None
    live_breaker: str | None = None
    final: bool = False


@dataclass
class InvariantResult:
    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def line(self) -> str:
        """One line for the operator: ``duplicates  OK  0 violations (412 checked)``."""
        verdict = "OK  " if self.ok else "FAIL"
        text = (
            f"{self.name:<13} {verdict} {len(self.violations)} violations ({self.checked} checked)"
        )
        if self.violations:
            text += ": " + "; ".join(self.violations[:5])
            if len(self.violations) > 5:
                text += f"; ... {len(self.violations) - 5} more"
        if self.notes:
            text += " [" + "; ".join(self.notes) + "]"
        return text


def check(evidence: Evidence) -> list[InvariantResult]:
    """Check every invariant; return the results in ``INVARIANTS`` order."""
    return [
        _duplicates(evidence),
        _lost(evidence),
        _conservation(evidence),
        _breaker(evidence),
        _fills_once(evidence),
        _reservations(evidence),
        _liveness(evidence),
        _audit(evidence),
    ]


def _ours(cid: str | None) -> bool:
    return cid is not None and cid.startswith(CLIENT_ORDER_ID_PREFIX)


def _intents(evidence: Evidence) -> dict[str, tuple[int, Mapping[str, Any]]]:
    intents: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for seq, kind, payload in evidence.records:
        if kind is RecordType.INTENT:
            intents.setdefault(str(payload["client_order_id"]), (seq, payload))
    return intents


# -- 1: DUPLICATES ------------------------------------------------------------------


IntentKey = tuple[str, str]
"""(agent id, intent id): what one order is for, whatever client order id it carries."""


def duplicate_intents(
    intent_of: Mapping[str, IntentKey], venue_orders: Sequence[tuple[str, str]]
) -> tuple[int, list[str]]:
    """Return (intents checked, violations): venue orders per intent and per client order id.

    ``intent_of`` maps each client order id the WAL logged to its intent;
    ``venue_orders`` is (venue, client order id) of every venue order with our
    prefix. Shared by ``chaos.check`` and the deterministic simulation.
    """
    by_intent: dict[IntentKey, list[str]] = {}
    per_cid: Counter[tuple[str, str]] = Counter()
    for venue, cid in venue_orders:
        per_cid[(venue, cid)] += 1
        key = intent_of.get(cid)
        if key is not None:
            by_intent.setdefault(key, []).append(f"{venue}:{cid}")
    violations = [
        f"{count} venue orders carry {venue}:{cid}"
        for (venue, cid), count in sorted(per_cid.items())
        if count > 1
    ]
    for (agent, intent_id), orders in sorted(by_intent.items()):
        if len(orders) > 1:
            violations.append(
                f"intent {agent}/{intent_id} placed {len(orders)} times at the venue: "
                + ", ".join(sorted(orders))
            )
    return len(by_intent), violations


def _duplicates(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("duplicates")
    intent_of: dict[str, IntentKey] = {}
    logged: Counter[str] = Counter()
    cids_of: dict[IntentKey, set[str]] = {}
    for _, kind, payload in evidence.records:
        if kind is RecordType.INTENT:
            cid = str(payload["client_order_id"])
            key = (str(payload["agent_id"]), str(payload["intent_id"]))
            logged[cid] += 1
            intent_of.setdefault(cid, key)
            cids_of.setdefault(key, set()).add(cid)
    placed = [
        (name, str(order.client_order_id))
        for name, venue in evidence.venues.items()
        for order in venue.orders
        if _ours(order.client_order_id)
    ]
    result.checked, result.violations = duplicate_intents(intent_of, placed)
    for cid, count in sorted(logged.items()):
        if count > 1:
            result.violations.append(f"{count} INTENT records for {cid}")
    for (agent, intent_id), cids in sorted(cids_of.items()):
        if len(cids) > 1:
            result.violations.append(
                f"intent {agent}/{intent_id} logged under {len(cids)} client order ids: "
                + ", ".join(sorted(cids))
            )
    return result


# -- 2: LOST ORDERS -----------------------------------------------------------------


def _lost(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("lost")
    intents = _intents(evidence)
    at_venue: dict[str, Order] = {}
    for name, venue in evidence.venues.items():
        for order in venue.orders:
            if not _ours(order.client_order_id):
                continue
            assert order.client_order_id is not None
            at_venue[order.client_order_id] = order
            result.checked += 1
            if order.client_order_id not in intents:
                result.violations.append(
                    f"venue order {name}:{order.client_order_id} (id {order.id}) has no WAL intent"
                )
    for view in evidence.engine.snapshot().orders:
        result.checked += 1
        cid = view.client_order_id
        if view.venue not in evidence.venues:
            continue
        venue_order = at_venue.get(cid)
        if view.state in _ACKNOWLEDGED and venue_order is None:
            result.violations.append(f"{cid} is {view.state} in the WAL, the venue has no order")
        if evidence.final and not (
            view.state.is_terminal
            or view.state is OrderState.UNKNOWN
            or (venue_order is not None and venue_order.status.value == "open")
        ):
            result.violations.append(f"{cid} ({view.intent_id}) ended {view.state}, unresolved")
    return result


# -- 3: CONSERVATION ----------------------------------------------------------------


def _conservation(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("conservation")
    ledger = evidence.engine.ledger
    booked = {
        (str(p["venue"]), str(p["trade_id"]))
        for _, k, p in evidence.records
        if k is RecordType.FILL
    }
    for problem in ledger.conservation_errors():
        result.violations.append(f"gateway books: {problem}")
    for name, venue in sorted(evidence.venues.items()):
        result.checked += 1
        for problem in venue.conservation_errors:
            result.violations.append(f"venue {name} ledger: {problem}")
        made = {(name, t.id) for t in venue.trades}
        missing = made - booked
        if missing:
            note = f"{name}: {len(missing)} venue trades not yet booked, books not compared"
            if evidence.final:
                result.violations.append(note)
            else:
                result.notes.append(note)
            continue
        _compare_mirror(name, venue, evidence.engine, result)
    return result


def _compare_mirror(
    name: str, venue: VenueRecord, engine: GatewayEngine, result: InvariantResult
) -> None:
    ours = engine.ledger.expected_balances(name)
    for asset in sorted(set(ours) | set(venue.balances)):
        result.checked += 1
        a, b = ours.get(asset, ZERO), venue.balances.get(asset, ZERO)
        if a != b:
            kinds = venue.ledger.get(asset, {})
            parts = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
            result.violations.append(
                f"{name} {asset}: the gateway expects {a}, the venue holds {b} "
                f"(off by {b - a}; the venue's ledger: {parts or 'not read'})"
            )
    held = engine.ledger.expected_positions(name)
    for symbol in sorted(set(held) | set(venue.positions)):
        result.checked += 1
        a, b = held.get(symbol, ZERO), venue.positions.get(symbol, ZERO)
        if a != b:
            result.violations.append(f"{name} {symbol}: the gateway holds {a}, the venue {b}")


# -- 4: BREAKER ---------------------------------------------------------------------


def _breaker_steps(
    records: Sequence[tuple[int, RecordType, Mapping[str, Any]]],
) -> Iterator[tuple[int, BreakerState, BreakerState, Trigger, BreakerState, bool]]:
    """Yield (seq, from, to, trigger, state before, stale) for each BREAKER record in order.

    A record is stale when it starts elsewhere than the state the log had
    reached and would not make it safer (a trip decided before an earlier
    transition landed): replay ignores it, so the state does not move.
    """
    state = BreakerState.CLOSED
    for seq, kind, payload in records:
        if kind is not RecordType.BREAKER:
            continue
        source = BreakerState(str(payload["from_state"]))
        target = BreakerState(str(payload["to_state"]))
        trigger = Trigger(str(payload["trigger"]))
        stale = source is not state and target.safety <= state.safety
        yield seq, source, target, trigger, state, stale
        if not stale:
            state = target


def logged_breaker_state(
    records: Sequence[tuple[int, RecordType, Mapping[str, Any]]],
) -> BreakerState:
    """Return the breaker state the WAL's BREAKER records leave (shared with the simulation)."""
    state = BreakerState.CLOSED
    for _, _, target, _, _, stale in _breaker_steps(records):
        state = state if stale else target
    return state


def _breaker(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("breaker")
    for seq, source, target, trigger, state, stale in _breaker_steps(evidence.records):
        result.checked += 1
        if TRANSITIONS.get((source, trigger)) is not target:
            result.violations.append(f"seq {seq}: {source} --{trigger}--> {target} is not allowed")
        if stale:
            result.notes.append(f"seq {seq}: a stale trip from {source} (ignored by replay)")
            continue
        if target.safety < state.safety and trigger not in SAFE_DOWNWARD:
            result.violations.append(f"seq {seq}: {state} -> {target} by {trigger}: less safe")
    replayed = evidence.engine.breaker_state
    logged = logged_breaker_state(evidence.records)
    result.checked += 1
    if replayed is not logged:
        result.violations.append(
            f"the engine rebuilt from the WAL holds {replayed}, its records say {logged}"
        )
    if evidence.live_breaker is not None:
        result.checked += 1
        live = BreakerState(evidence.live_breaker)
        if live.safety < replayed.safety:
            result.violations.append(f"the gateway runs {live}, its WAL says {replayed}")
    return result


# -- 6: EACH FILL ONCE ----------------------------------------------------------------


def _fills_once(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("fills_once")
    trades = {(name, t.id): t for name, v in evidence.venues.items() for t in v.trades}
    seen: Counter[tuple[str, str]] = Counter()
    for seq, kind, payload in evidence.records:
        if kind is not RecordType.FILL:
            continue
        result.checked += 1
        key = (str(payload["venue"]), str(payload["trade_id"]))
        seen[key] += 1
        if seen[key] == 2:
            result.violations.append(f"trade {key[0]}:{key[1]} booked twice (again at seq {seq})")
        if key[0] not in evidence.venues:
            continue
        trade = trades.get(key)
        if trade is None:
            result.violations.append(f"seq {seq}: trade {key[0]}:{key[1]} the venue never made")
        elif trade.client_order_id != payload.get("client_order_id") or trade.amount != Decimal(
            str(payload["amount"])
        ):
            result.violations.append(
                f"seq {seq}: trade {key[1]} booked as {payload.get('client_order_id')} "
                f"{payload['amount']}, the venue made {trade.client_order_id} {trade.amount}"
            )
    by_cid: dict[str, Decimal] = {}
    for (name, _), trade in trades.items():
        if trade.client_order_id and (name, trade.id) in seen:
            by_cid[trade.client_order_id] = by_cid.get(trade.client_order_id, ZERO) + trade.amount
    for view in evidence.engine.snapshot().orders:
        if view.venue in evidence.venues and view.filled != by_cid.get(view.client_order_id, ZERO):
            result.violations.append(
                f"{view.client_order_id}: filled {view.filled}, its booked trades add up to "
                f"{by_cid.get(view.client_order_id, ZERO)}"
            )
    return result


# -- 7: RESERVATIONS -------------------------------------------------------------------


def reservation_problems(snapshot: Any) -> tuple[int, list[str]]:
    """Return (orders checked, violations) of invariant 7 over an ``EngineSnapshot``.

    Shared by ``chaos.check`` and the deterministic simulation.
    """
    problems: list[str] = []
    reserved: dict[str, Decimal] = {}
    for order in snapshot.orders:
        cid, left = order.client_order_id, order.reservation_left
        if left < 0 or left > order.reservation:
            problems.append(f"{cid}: {left} left of a reservation of {order.reservation}")
        if order.state.is_terminal and left != 0:
            problems.append(f"{cid} is {order.state} and still reserves {left}")
        reserved[order.agent_id] = reserved.get(order.agent_id, ZERO) + left
    for agent, view in snapshot.agents.items():
        if view.reserved < 0:
            problems.append(f"{agent} reserves {view.reserved}")
        if view.reserved != reserved.get(agent, ZERO):
            problems.append(
                f"{agent}: the ledger reserves {view.reserved}, its orders "
                f"{reserved.get(agent, ZERO)}"
            )
    return len(snapshot.orders), problems


def _reservations(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("reservations")
    result.checked, result.violations = reservation_problems(evidence.engine.snapshot())
    return result


# -- 8: LIVENESS ------------------------------------------------------------------------

_IN_FLIGHT: Final = frozenset({OrderState.PENDING, OrderState.UNKNOWN, OrderState.CANCEL_PENDING})


def open_breaker_cause(
    records: Sequence[tuple[int, RecordType, Mapping[str, Any]]],
) -> tuple[str | None, str | None]:
    """Return (violation, note) for a breaker the WAL leaves OPEN: the record that tripped it.

    The note names it (sequence, reason, detail); the violation says none does.
    Shared by ``chaos.check`` and the deterministic simulation.
    """
    opened: tuple[int, Mapping[str, Any]] | None = None
    tripped: tuple[int, Mapping[str, Any]] | None = None  # what started a drain
    for seq, kind, payload in records:
        if kind is not RecordType.BREAKER:
            continue
        target = payload.get("to_state")
        tripped = (seq, payload) if target == BreakerState.DRAINING else tripped
        opened = (seq, payload) if target == BreakerState.OPEN else None
    if opened is None:
        return "the breaker is OPEN and no BREAKER record opened it", None
    seq, payload = opened
    if payload.get("from_state") == BreakerState.DRAINING and tripped is not None:
        seq, payload = tripped  # drained or timed out: the trip is the cause
    why = payload.get("reason") or payload.get("trigger")  # a failed probe is its own reason
    if not why:
        return f"the breaker OPEN by seq {seq} names no reason", None
    return None, f"OPEN by seq {seq}: {why} {payload.get('detail') or ''}".rstrip()


def _liveness(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("liveness")
    if evidence.engine.breaker_state is BreakerState.OPEN:
        result.checked += 1
        violation, note = open_breaker_cause(evidence.records)
        if violation:
            result.violations.append(violation)
        if note:
            result.notes.append(note)
    if evidence.final:
        stuck = [
            f"{o.client_order_id} {o.state}"
            for o in evidence.engine.snapshot().orders
            if o.state in _IN_FLIGHT
        ]
        result.checked += len(stuck)
        if stuck:
            result.notes.append(f"{len(stuck)} orders in flight at the end: {', '.join(stuck[:5])}")
    return result


# -- THE AUDIT STORE ------------------------------------------------------------------


def _audit(evidence: Evidence) -> InvariantResult:
    result = InvariantResult("audit")
    audit = evidence.audit
    if audit is None:
        result.notes.append("no audit store read")
        return result
    last_wal = evidence.records[-1][0] if evidence.records else 0
    if audit.last_seq > last_wal:
        result.violations.append(
            f"the store holds seq {audit.last_seq}, the WAL ends at {last_wal}"
        )
    intents = _intents(evidence)
    for cid, intent_seq in sorted(audit.orders.items()):
        result.checked += 1
        if cid not in intents:
            result.violations.append(f"audit order {cid} has no WAL intent")
        elif intents[cid][0] != intent_seq:
            result.violations.append(
                f"audit order {cid}: intent seq {intent_seq}, the WAL's {intents[cid][0]}"
            )
    for cid, (seq, _) in sorted(intents.items()):
        if seq <= audit.last_seq and cid not in audit.orders:
            result.violations.append(f"WAL intent {cid} (seq {seq}) missing from the audit store")
    wal_fills = {
        (str(p["venue"]), str(p["trade_id"])): seq
        for seq, k, p in evidence.records
        if k is RecordType.FILL
    }
    stored: Counter[tuple[str, str]] = Counter()
    for venue, trade_id, seq in audit.fills:
        result.checked += 1
        stored[(venue, trade_id)] += 1
        if wal_fills.get((venue, trade_id)) != seq:
            result.violations.append(f"audit fill {venue}:{trade_id} (seq {seq}) not in the WAL")
    for key, count in stored.items():
        if count > 1:
            result.violations.append(f"audit holds fill {key[0]}:{key[1]} {count} times")
    for key, seq in wal_fills.items():
        if seq <= audit.last_seq and key not in stored:
            result.violations.append(f"WAL fill {key[0]}:{key[1]} (seq {seq}) missing from audit")
    expected = sum(1 for seq, _, _ in evidence.records if seq <= audit.last_seq)
    if audit.records != expected:
        result.violations.append(
            f"audit holds {audit.records} records, the WAL {expected} to there"
        )
    if audit.last_seq < last_wal:
        result.notes.append(f"the store trails the WAL by {last_wal - audit.last_seq} records")
    return result
