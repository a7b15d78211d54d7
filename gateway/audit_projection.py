"""Project WAL records into the audit store's rows: pure, no duckdb, no I/O.

``AuditProjector`` folds records, in sequence order, into the rows of the
tables ``TABLES`` describes; ``gateway.audit`` writes them to duckdb. The
projection follows the engine's own ``apply`` (``gateway.engine_state``) for
everything it shows: an order's state moves through the same transition table
(``gateway.orders``), a venue fact that would move it backwards is skipped, a
trade is booked once per (venue, trade id). It never raises on what a record
says: a record the engine would refuse is kept in ``wal_records`` with a
``note`` and projected nowhere else.

Idempotent by sequence: a record whose sequence is at or below the last one
folded is skipped, so re-delivering records changes nothing.

Tables
    ``wal_records``      every record: seq, type, at_ns, payload as JSON text, note
    ``orders``           one row per client order id, replaced as records arrive
    ``tombstones``       cancels logged before their intent
    ``fills``            one row per (venue, trade id)
    ``ledger``           realized money movements: the cash legs of spot trades,
                         fees, funding payments (the house takes the rounding)
    ``breaker_history``  every breaker transition
    ``budgets``          every budget the council set, one row per agent
    ``reconciliations``  every comparison with a venue and its corrections

Money is exact: every money column holds the record's Decimal unchanged, and
a value that does not fit ``DECIMAL(38,18)`` raises ``AuditValueError``
rather than being rounded. The one derived figure, ``orders.avg_price``
(``cost / filled``), is rounded half-even to 18 places; ``cost`` is exact.
A perpetual's trade moves no cash until it realizes P&L, which needs the
contract size the WAL does not carry: its ledger rows are its fee only.

Restarts: the projector caches orders, tombstones and trade ids. A projector
continuing a store that already holds rows is told what the store knows
through ``wanted`` (what to look up) and ``prime`` (what was found) before
each fold; a fresh projector needs neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import orjson
from pydantic import ValidationError

from core.models import OrderStatus, OrderType, Side, TimeInForce
from core.money import ZERO
from gateway.audit_tables import (
    _MONEY_CONTEXT,
    _ORDER_COLUMNS,
    _QUANTUM,
    MONEY_PRECISION,
    MONEY_SCALE,
    TABLES,
    AuditValueError,
    Column,
    ColumnKind,
    Row,
    TableSpec,
    _assets,
    _money,
    _plain,
    _row,
    payload_json,
)
from gateway.breaker import BreakerTransition
from gateway.engine_errors import OrderTransitionRefused
from gateway.engine_records import (
    BudgetPayload,
    CancelKind,
    CancelPayload,
    FillPayload,
    FundingPayload,
    IntentPayload,
    OrderStatusPayload,
    ReconciliationPayload,
    ResultOutcome,
    ResultPayload,
    StatusSource,
)
from gateway.errors import BreakerTransitionRefused
from gateway.ledger import HOUSE
from gateway.orders import OrderState, TrackedOrder, merge_venue_status, state_after_fill
from gateway.wal_format import RecordType

__all__ = [
    "MONEY_PRECISION",
    "MONEY_SCALE",
    "TABLES",
    "AuditProjector",
    "AuditValueError",
    "Column",
    "ColumnKind",
    "Projection",
    "Row",
    "TableSpec",
    "payload_json",
]

# -- THE PROJECTION -----------------------------------------------------------


@dataclass(slots=True)
class _OrderEntry:
    order: TrackedOrder
    intent_seq: int
    last_seq: int
    trades: int


@dataclass(frozen=True, slots=True)
class Projection:
    """What one ``take`` collected: new rows per table, the current row of each order touched."""

    rows: Mapping[str, Sequence[Row]]
    last_seq: int
    records: int

    def count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def as_dicts(self, table: str) -> list[dict[str, Any]]:
        """Return ``table``'s rows as dicts keyed by column name (for tests and humans)."""
        names = TABLES[table].names
        return [dict(zip(names, row, strict=True)) for row in self.rows.get(table, ())]


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the projector must be told before folding: client order ids and trade keys."""

    client_order_ids: frozenset[str]
    trades: frozenset[tuple[str, str]]

    def __bool__(self) -> bool:
        return bool(self.client_order_ids or self.trades)


class AuditProjector:
    """Fold WAL records into audit rows (see the module doc). Not thread-safe."""

    def __init__(self, last_seq: int = 0) -> None:
        if last_seq < 0:
            raise ValueError(f"last_seq must be >= 0, not {last_seq}")
        self._last_seq = last_seq
        self._records = 0
        self._orders: dict[str, _OrderEntry] = {}
        self._tombstones: set[str] = set()
        self._resolved: set[str] = set()
        """Client order ids whose order and tombstone are known here (present or not)."""
        self._trades: set[tuple[str, str]] = set()
        self._trades_resolved: set[tuple[str, str]] = set()
        self._rows: dict[str, list[Row]] = {name: [] for name in TABLES}
        self._dirty: set[str] = set()

    @property
    def last_seq(self) -> int:
        """Return the sequence of the last record folded (or skipped as already folded)."""
        return self._last_seq

    # -- what the store knows -------------------------------------------------

    def wanted(self, records: Iterable[tuple[int, RecordType, Mapping[str, Any]]]) -> Wanted:
        """Return the ids ``records`` mention that this projector has not resolved yet."""
        cids: set[str] = set()
        trades: set[tuple[str, str]] = set()
        for seq, record_type, payload in records:
            if seq <= self._last_seq or record_type not in _ORDER_RECORDS:
                continue
            cid = payload.get("client_order_id")
            if isinstance(cid, str) and cid not in self._resolved:
                cids.add(cid)
            if record_type is RecordType.FILL:
                key = (payload.get("venue"), payload.get("trade_id"))
                if isinstance(key[0], str) and isinstance(key[1], str):
                    if key not in self._trades_resolved:
                        trades.add((key[0], key[1]))
        return Wanted(frozenset(cids), frozenset(trades))

    def prime(
        self,
        wanted: Wanted,
        orders: Iterable[Mapping[str, Any]] = (),
        tombstones: Iterable[str] = (),
        trades: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Take what the store holds about ``wanted``: its order rows, tombstones and trade keys.

        Every id in ``wanted`` counts as resolved afterwards: what was not
        found does not exist.
        """
        for row in orders:
            entry = _entry_from_row(row)
            self._orders[entry.order.client_order_id] = entry
        self._tombstones.update(tombstones)
        self._resolved.update(wanted.client_order_ids)
        self._trades.update(trades)
        self._trades_resolved.update(wanted.trades)

    def forget_settled(self) -> None:
        """Drop cached ids and terminal orders (the store has written them); keep live orders."""
        if self._dirty:
            raise ValueError("take() the projected rows before forgetting what produced them")
        self._orders = {
            cid: entry for cid, entry in self._orders.items() if not entry.order.state.is_terminal
        }
        self._resolved = set(self._orders)
        self._tombstones.clear()
        self._trades.clear()
        self._trades_resolved.clear()

    # -- folding --------------------------------------------------------------

    def fold_many(
        self, first_seq: int, records: Iterable[tuple[RecordType, Mapping[str, Any]]]
    ) -> int:
        """Fold records with consecutive sequences from ``first_seq``; return how many were new."""
        folded = 0
        for seq, (record_type, payload) in enumerate(records, start=first_seq):
            folded += self.fold(seq, record_type, payload)
        return folded

    def fold(self, seq: int, record_type: RecordType, payload: Mapping[str, Any]) -> bool:
        """Fold one record; return False if ``seq`` was folded already.

        Raise ``ValueError`` if ``seq`` skips a sequence (the projection would
        have a hole), ``AuditValueError`` on money DECIMAL(38,18) cannot hold.
        """
        if seq <= self._last_seq:
            return False
        if seq != self._last_seq + 1:
            raise ValueError(f"sequence gap: expected {self._last_seq + 1}, got {seq}")
        record_type = RecordType(record_type)
        handler = _FOLD.get(record_type)
        note: str | None
        try:
            note = handler(self, seq, payload) if handler is not None else "not projected"
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            note = f"malformed: {where}: {first['msg']}"
        except BreakerTransitionRefused as exc:
            note = f"malformed: {exc.reason}"
        except AuditValueError as exc:
            raise AuditValueError(f"record {seq} ({record_type.name}): {exc}") from None
        at_ns = payload.get("at_ns")
        at = at_ns if type(at_ns) is int else None
        self._rows["wal_records"].append((seq, record_type.name, at, payload_json(payload), note))
        self._last_seq = seq
        self._records += 1
        return True

    def take(self) -> Projection:
        """Return the rows folded since the last ``take`` and start collecting anew."""
        rows: dict[str, list[Row]] = self._rows
        rows["orders"] = [_order_row(cid, self._orders[cid]) for cid in sorted(self._dirty)]
        projection = Projection(rows, self._last_seq, self._records)
        self._rows = {name: [] for name in TABLES}
        self._dirty = set()
        self._records = 0
        return projection

    # -- orders ---------------------------------------------------------------

    def _touch(self, cid: str, seq: int) -> _OrderEntry | None:
        entry = self._orders.get(cid)
        if entry is not None:
            entry.last_seq = seq
            self._dirty.add(cid)
        return entry

    def _fold_intent(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        p = IntentPayload.model_validate(payload)
        cid = p.client_order_id
        known = self._orders.get(cid)
        if known is not None:
            if known.order.fingerprint != p.fingerprint:
                return "intent logged twice with different parameters"
            return "duplicate intent"
        fields = {name: getattr(p, name) for name in _INTENT_FIELDS}
        order = TrackedOrder(
            **fields, reservation_left=p.reservation, created_ns=p.at_ns, updated_ns=p.at_ns
        )
        self._orders[cid] = _OrderEntry(order, seq, seq, 0)
        self._resolved.add(cid)
        self._dirty.add(cid)
        if cid in self._tombstones:  # its cancel was logged first: the engine refuses it
            self._tombstones.discard(cid)
            return _move(order, OrderState.REJECTED, p.at_ns, "canceled before submit")
        return None

    def _fold_result(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        p = ResultPayload.model_validate(payload)
        entry = self._touch(p.client_order_id, seq)
        if entry is None:
            return "unknown order"
        order = entry.order
        if p.outcome is ResultOutcome.ACCEPTED:
            if p.status is None:
                return "malformed: an accepted result without a status"
            note = _merge(order, p.status, p.filled, p.at_ns)
            _learn_venue_id(order, p.venue_order_id)
            return note
        if p.outcome is ResultOutcome.REJECTED:
            if not order.venue_known and order.state in (OrderState.PENDING, OrderState.UNKNOWN):
                return _move(order, OrderState.REJECTED, p.at_ns, p.reason)
            return None
        if order.state is OrderState.PENDING:
            return _move(order, OrderState.UNKNOWN, p.at_ns, p.reason)
        return None

    def _fold_status(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        p = OrderStatusPayload.model_validate(payload)
        entry = self._touch(p.client_order_id, seq)
        if entry is None:
            return "unknown order"
        order = entry.order
        if p.source is StatusSource.NOT_FOUND:
            if order.venue_known or order.state.is_terminal:
                return None
            if p.final:
                return _move(order, OrderState.REJECTED, p.at_ns, p.reason)
            if order.state is OrderState.PENDING:
                return _move(order, OrderState.UNKNOWN, p.at_ns, p.reason)
            return None
        if p.status is None:
            return "malformed: a status without a status"
        note = _merge(order, p.status, p.filled, p.at_ns)
        _learn_venue_id(order, p.venue_order_id)
        return note

    def _fold_cancel(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        p = CancelPayload.model_validate(payload)
        cid = p.client_order_id
        entry = self._touch(cid, seq)
        if entry is None:
            if p.kind is not CancelKind.TOMBSTONE:
                return "unknown order"
            if cid in self._tombstones:
                return "duplicate tombstone"
            self._tombstones.add(cid)
            self._resolved.add(cid)
            self._rows["tombstones"].append(_row("tombstones", "tombstone", p, back=(seq,)))
            return None
        # A tombstone logged after its intent (the two raced) is a plain cancel request.
        if not entry.order.state.is_terminal:
            return _move(entry.order, OrderState.CANCEL_PENDING, p.at_ns)
        return None

    # -- money ----------------------------------------------------------------

    def _fold_fill(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        p = FillPayload.model_validate(payload)
        key = (p.venue, p.trade_id)
        if key in self._trades:
            return "duplicate trade"
        entry = self._orders.get(p.client_order_id) if p.client_order_id else None
        if entry is not None and entry.order.agent_id != p.agent_id:
            return f"booked to {p.agent_id}, not the order's agent {entry.order.agent_id}"
        self._trades.add(key)
        self._trades_resolved.add(key)
        where = "fill"
        self._rows["fills"].append(_row("fills", where, p, front=(seq,)))
        base, quote, settle = _assets(p.symbol)
        fee_currency = p.fee_currency or settle or quote or base
        legs: list[tuple[str, Decimal, str]] = []
        if settle is None and quote is not None:  # spot: both legs are cash on the venue
            cost = p.price * p.amount
            buy = p.side is Side.BUY
            legs += [
                (quote, -cost if buy else cost, "trade"),
                (base, p.amount if buy else -p.amount, "trade"),
            ]
        if p.fee_cost:
            legs.append((fee_currency, -p.fee_cost, "fee"))
        tail = (p.symbol, p.trade_id, p.client_order_id)
        ledger = self._rows["ledger"]
        for line, (asset, amount, kind) in enumerate(legs):
            money = _money(amount, where, kind, asset)
            ledger.append((seq, line, p.at_ns, p.agent_id, p.venue, asset, money, kind, *tail))
        if entry is None:
            return None if p.client_order_id is None else "fill of an order with no intent"
        self._touch(entry.order.client_order_id, seq)
        return _apply_fill(entry, p, fee_currency)

    def _fold_budget(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        p = BudgetPayload.model_validate(payload)
        rows = self._rows["budgets"]
        for agent, amount in sorted(p.budgets.items()):
            rows.append((seq, agent, p.at_ns, _money(amount, "budget of", agent)))
        return None

    def _fold_breaker(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        t = BreakerTransition.from_payload(payload)
        self._rows["breaker_history"].append(_row("breaker_history", "breaker", t, front=(seq,)))
        return None

    def _fold_reconciliation(self, seq: int, payload: Mapping[str, Any]) -> str | None:
        kind = payload.get("kind")
        if kind == "funding":
            return self._fold_funding(seq, FundingPayload.model_validate(payload))
        if kind != "reconciliation":
            return f"unknown kind {kind!r}"
        r = ReconciliationPayload.model_validate(payload)
        corrections = [
            {
                "kind": c.kind,
                "key": c.key,
                "delta": _plain(c.delta),
                "price": None if c.price is None else _plain(c.price),
            }
            for c in r.corrections
        ]
        self._rows["reconciliations"].append(
            _row(
                "reconciliations",
                "reconciliation",
                r,
                front=(seq,),
                back=(
                    orjson.dumps(corrections, option=orjson.OPT_SORT_KEYS).decode(),
                    orjson.dumps(list(r.mismatches)).decode(),
                ),
            )
        )
        return None

    def _fold_funding(self, seq: int, f: FundingPayload) -> str | None:
        ref = f"{f.symbol}@{f.funding_timestamp}"
        payments = sorted((agent, amount) for agent, amount in f.payments.items() if amount)
        rest = f.total - sum(f.payments.values(), ZERO)
        if rest:  # the venue pays one rounded total: the rounding is the house's
            payments.append((HOUSE, rest))
        rows = self._rows["ledger"]
        for line, (agent, amount) in enumerate(payments):
            money = _money(amount, "funding of", agent)
            rows.append(
                (seq, line, f.at_ns, agent, f.venue, f.asset, money, "funding", f.symbol, ref, None)
            )
        return None


_R = RecordType
_ORDER_RECORDS: Final = frozenset({_R.INTENT, _R.RESULT, _R.ORDER_STATUS, _R.CANCEL, _R.FILL})
_INTENT_FIELDS: Final = (
    "client_order_id agent_id intent_id venue symbol side type amount price time_in_force"
    " post_only reduce_only fingerprint reservation probe"
).split()

_FOLD: Final = {
    RecordType.INTENT: AuditProjector._fold_intent,
    RecordType.RESULT: AuditProjector._fold_result,
    RecordType.ORDER_STATUS: AuditProjector._fold_status,
    RecordType.CANCEL: AuditProjector._fold_cancel,
    RecordType.FILL: AuditProjector._fold_fill,
    RecordType.BREAKER: AuditProjector._fold_breaker,
    RecordType.BUDGET: AuditProjector._fold_budget,
    RecordType.RECONCILIATION: AuditProjector._fold_reconciliation,
}


# -- ORDER HELPERS (the engine's apply, without reservations) -----------------


def _move(order: TrackedOrder, target: OrderState, at_ns: int, reason: str = "") -> str | None:
    try:
        order.move_to(target, at_ns, reason)
    except OrderTransitionRefused as exc:
        return f"refused: {exc.source} -> {exc.target}"
    return None


def _merge(
    order: TrackedOrder, status: OrderStatus, filled: Decimal | None, at_ns: int
) -> str | None:
    merge = merge_venue_status(order, status, filled)
    if merge.contradiction is not None:
        # The engine skips such a fact too (decided before a concurrent one was applied).
        return f"skipped: {merge.contradiction}"
    if merge.target is not None:
        return _move(order, merge.target, at_ns)
    return None


def _learn_venue_id(order: TrackedOrder, venue_order_id: str | None) -> None:
    order.venue_known = True
    if venue_order_id and order.venue_order_id is None:
        order.venue_order_id = venue_order_id


def _apply_fill(entry: _OrderEntry, p: FillPayload, fee_currency: str) -> str | None:
    order = entry.order
    was_terminal = order.state.is_terminal
    target, problem = state_after_fill(order, p.amount)
    entry.trades += 1
    order.filled += p.amount
    order.cost += p.price * p.amount
    if p.fee_cost:
        order.fees[fee_currency] = order.fees.get(fee_currency, ZERO) + p.fee_cost
    _learn_venue_id(order, p.venue_order_id)
    order.updated_ns = p.at_ns
    note = problem
    if was_terminal:
        return note or "fill after a terminal state"
    return _move(order, target, p.at_ns) or note


def _order_row(cid: str, entry: _OrderEntry) -> Row:
    o = entry.order
    average: Decimal | None = None
    if o.filled:
        average = _MONEY_CONTEXT.divide(o.cost, o.filled).quantize(
            _QUANTUM, rounding=ROUND_HALF_EVEN, context=_MONEY_CONTEXT
        )
    fees = {currency: _plain(amount) for currency, amount in o.fees.items()}
    fees_json = orjson.dumps(fees, option=orjson.OPT_SORT_KEYS).decode()
    back = (average, fees_json, entry.trades, entry.intent_seq, entry.last_seq)
    return _row("orders", f"order {cid}", o, back=back)


_ROW_ONLY: Final = frozenset({"avg_price", "fees", "trades", "intent_seq", "last_seq"})
_ENUMS: Final = {
    "side": Side,
    "type": OrderType,
    "time_in_force": TimeInForce,
    "state": OrderState,
}


def _entry_from_row(row: Mapping[str, Any]) -> _OrderEntry:
    """Rebuild a cached order from its ``orders`` row (the inverse of ``_order_row``)."""
    missing = [name for name in _ORDER_COLUMNS if name not in row]
    if missing:
        raise ValueError(f"an orders row without {missing}")
    fields = {name: row[name] for name in _ORDER_COLUMNS if name not in _ROW_ONLY}
    for name, enum in _ENUMS.items():
        fields[name] = enum(row[name])
    fees = {currency: Decimal(text) for currency, text in orjson.loads(row["fees"]).items()}
    order = TrackedOrder(**fields, fees=fees, reservation_left=row["reservation"])
    return _OrderEntry(order, row["intent_seq"], row["last_seq"], row["trades"])
