"""The engine's whole state as a plain dict, and back: what a checkpoint holds.

``checkpoint_state()`` returns a dict of str keys, lists, ints, bools, None and
strings only — Decimals written as ``str`` (digits, exponent and sign come back
exact) — so ``orjson`` writes it as is. ``restore_checkpoint(state)`` rebuilds a
fresh engine from it; then applying the WAL records after the checkpoint gives the
engine a full replay of the log gives (``snapshot()`` compares equal).

Kept: orders (all their fields), tombstones, idempotency keys of retired orders and
the retention queues, the ledger (agent books, venue mirrors with their trade history,
every trade id booked), the breaker with its counters (error window, probes), drawdown
peaks, the order-rate window, funding times, reconciled venues, counters and the
council's log. Left out, as after any restart: readiness, orders decided but not sent
(``claim_send`` is never true for a restored order: recovery asks the venue), marks.

The format is versioned (``STATE_VERSION``): a state of another version is refused
with ``CheckpointInvalid``, and recovery falls back to an older checkpoint or the log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from core.models import OrderType, Side, TimeInForce
from gateway.breaker import BreakerState
from gateway.engine_errors import RecordRefused
from gateway.engine_retention import RetiredOrder
from gateway.engine_state import EngineState
from gateway.ledger import AgentBook, Holding, VenueMirror
from gateway.orders import OrderState, TrackedOrder
from gateway.wal_format import decode_payload, encode_payload

STATE_VERSION = 1
_SIDES = {str(m): m for m in Side}
_TYPES = {str(m): m for m in OrderType}
_TIFS = {str(m): m for m in TimeInForce}
_STATES = {str(m): m for m in OrderState}


class CheckpointInvalid(RecordRefused):
    """A checkpoint's state this code cannot restore (another version, a bad field)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__("CHECKPOINT", f"{field}: {reason}")
        self.field = field


def _d(value: Decimal) -> str:
    return str(value)


def _dn(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _D(value: Any) -> Decimal:
    if type(value) is not str:
        raise TypeError(f"a Decimal is written as a string, not {value!r}")
    return Decimal(value)


def _Dn(value: Any) -> Decimal | None:
    return None if value is None else _D(value)


def _holding(h: Holding) -> list[str]:
    return [_d(h.contracts), _d(h.basis), _d(h.realized)]


def _unholding(item: list[Any]) -> Holding:
    contracts, basis, realized = item
    return Holding(_D(contracts), _D(basis), _D(realized))


# -- ORDERS -------------------------------------------------------------------


def _order(o: TrackedOrder) -> list[Any]:
    return [
        o.client_order_id,
        o.agent_id,
        o.intent_id,
        o.venue,
        o.symbol,
        str(o.side),
        str(o.type),
        _d(o.amount),
        _dn(o.price),
        str(o.time_in_force),
        o.post_only,
        o.reduce_only,
        o.fingerprint,
        _d(o.reservation),
        _d(o.reservation_left),
        o.probe,
        o.created_ns,
        o.updated_ns,
        str(o.state),
        o.venue_order_id,
        o.venue_known,
        _d(o.filled),
        _d(o.cost),
        {currency: _d(amount) for currency, amount in o.fees.items()},
        sorted(o.trade_ids),
        o.fills_after_terminal,
        o.reason,
    ]


def _unorder(item: list[Any]) -> TrackedOrder:
    (
        cid,
        agent,
        intent_id,
        venue,
        symbol,
        side,
        type_,
        amount,
        price,
        tif,
        post_only,
        reduce_only,
        fingerprint,
        reservation,
        reservation_left,
        probe,
        created_ns,
        updated_ns,
        state,
        venue_order_id,
        venue_known,
        filled,
        cost,
        fees,
        trade_ids,
        fills_after_terminal,
        reason,
    ) = item
    return TrackedOrder(
        client_order_id=cid,
        agent_id=agent,
        intent_id=intent_id,
        venue=venue,
        symbol=symbol,
        side=_SIDES[side],
        type=_TYPES[type_],
        amount=_D(amount),
        price=_Dn(price),
        time_in_force=_TIFS[tif],
        post_only=bool(post_only),
        reduce_only=bool(reduce_only),
        fingerprint=fingerprint,
        reservation=_D(reservation),
        reservation_left=_D(reservation_left),
        probe=bool(probe),
        created_ns=int(created_ns),
        updated_ns=int(updated_ns),
        state=_STATES[state],
        venue_order_id=venue_order_id,
        venue_known=bool(venue_known),
        filled=_D(filled),
        cost=_D(cost),
        fees={currency: _D(amount) for currency, amount in fees.items()},
        trade_ids=set(trade_ids),
        fills_after_terminal=int(fills_after_terminal),
        reason=reason,
    )


# -- THE LEDGER ---------------------------------------------------------------


def _pairs(book: Mapping[tuple[str, str], Decimal]) -> list[list[str]]:
    return [[a, b, _d(amount)] for (a, b), amount in book.items()]


def _unpairs(items: list[list[str]]) -> dict[tuple[str, str], Decimal]:
    return {(a, b): _D(amount) for a, b, amount in items}


def _book(book: AgentBook) -> dict[str, Any]:
    return {
        "budget": _d(book.budget),
        "reserved": _d(book.reserved),
        "cash": _pairs(book.cash),
        "positions": [[v, s, *_holding(h)] for (v, s), h in book.positions.items()],
        "fees": _pairs(book.fees),
        "funding": _pairs(book.funding),
        "realized": _pairs(book.realized),
    }


def _unbook(data: Mapping[str, Any]) -> AgentBook:
    return AgentBook(
        budget=_D(data["budget"]),
        reserved=_D(data["reserved"]),
        cash=_unpairs(data["cash"]),
        positions={(v, s): _unholding(rest) for v, s, *rest in data["positions"]},
        fees=_unpairs(data["fees"]),
        funding=_unpairs(data["funding"]),
        realized=_unpairs(data["realized"]),
    )


def _mirror(mirror: VenueMirror) -> dict[str, Any]:
    return {
        "cash": {asset: _d(amount) for asset, amount in mirror.cash.items()},
        "positions": {symbol: _holding(h) for symbol, h in mirror.positions.items()},
        "history": {
            symbol: [[ts, n, tid, _d(signed), _d(price)] for (ts, n, tid), signed, price in rows]
            for symbol, rows in mirror.history.items()
        },
    }


def _unmirror(data: Mapping[str, Any]) -> VenueMirror:
    return VenueMirror(
        cash={asset: _D(amount) for asset, amount in data["cash"].items()},
        positions={symbol: _unholding(h) for symbol, h in data["positions"].items()},
        history={
            symbol: [
                ((int(ts), int(n), tid), _D(signed), _D(price))
                for ts, n, tid, signed, price in rows
            ]
            for symbol, rows in data["history"].items()
        },
    )


# -- THE STATE ----------------------------------------------------------------


class CheckpointedState(EngineState):
    """``checkpoint_state`` and ``restore_checkpoint`` (see the module doc)."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Return the engine's state as a plain dict (see the module doc); change nothing.

        Call it between two applies (the actor's event loop, never mid-decision): the
        state is then exactly what the records applied so far made.
        """
        now = self._clock.now_ns()
        horizon = now - self._limits.order_rate_window_ns
        errors, admitted, passed = self._breaker.counters()
        peaks, last = self._drawdown.peaks()
        ledger = self._ledger
        return {
            "version": STATE_VERSION,
            "log_ns": self._log_ns,
            "orders": [_order(order) for order in self._orders.values()],
            "tombstones": sorted(self._tombstones),
            "open": [[a, v, s, str(side), _d(x)] for (a, v, s, side), x in self._open.items()],
            "by_venue_id": [[v, voi, cid] for (v, voi), cid in self._by_venue_id.items()],
            # Only what a risk check can still count (the window only moves forward).
            "recent": {
                agent: [ns for ns in times if ns > horizon] for agent, times in self._recent.items()
            },
            "probes_reported": sorted(self._probes_reported),
            "reconciled": sorted(self._reconciled),
            "last_funding": [[v, s, ts] for (v, s), ts in self._last_funding.items()],
            "counters": dict(self._counters),
            "council_log": [encode_payload(entry).decode() for entry in self._council_log],
            "breaker": {
                "state": str(self._breaker.state),
                "since_ns": self._breaker.since_ns,
                "errors": list(errors),
                "probes_admitted": admitted,
                "probes_passed": passed,
            },
            "drawdown": {
                "peaks": {k: _d(v) for k, v in peaks.items()},
                "last": {k: _d(v) for k, v in last.items()},
            },
            "ledger": {
                "agents": {agent: _book(book) for agent, book in ledger.agents.items()},
                # An empty mirror is one a read created (``Ledger.mirror``): a replay has none.
                "venues": {
                    venue: _mirror(m)
                    for venue, m in ledger.venues.items()
                    if m.cash or m.positions or m.history
                },
                "trades": [[venue, tid] for venue, tid in ledger.seen_trades],
            },
            "ended": [[ns, cid] for ns, cid in self._ended],
            "retired": list(self._retired.values()),
        }

    def restore_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Rebuild this engine's state from ``checkpoint_state()``'s dict.

        Only on a fresh engine (nothing applied yet); it stays not ready until
        ``finish_recovery``. Raise ``CheckpointInvalid`` naming the field on a state of
        another version or of the wrong shape (the engine is then unusable: use a new one).
        """
        if self._log_ns or self._orders or self._ledger.agents or self._counters:
            raise CheckpointInvalid("engine", "restore only into a fresh engine")
        version = state.get("version")
        if version != STATE_VERSION:
            raise CheckpointInvalid("version", f"{version!r}, this code reads {STATE_VERSION}")
        field = "?"
        try:
            field = "orders"
            self._orders = {o.client_order_id: o for o in map(_unorder, state["orders"])}
            self._live = {cid for cid, o in self._orders.items() if not o.state.is_terminal}
            field = "tombstones"
            self._tombstones = set(state["tombstones"])
            field = "open"
            self._open = {(a, v, s, Side(side)): _D(x) for a, v, s, side, x in state["open"]}
            field = "by_venue_id"
            self._by_venue_id = {(v, voi): cid for v, voi, cid in state["by_venue_id"]}
            field = "recent"
            self._recent = {agent: deque(map(int, t)) for agent, t in state["recent"].items()}
            field = "probes_reported"
            self._probes_reported = set(state["probes_reported"])
            field = "reconciled"
            self._reconciled = set(state["reconciled"])
            field = "last_funding"
            self._last_funding = {(v, s): int(ts) for v, s, ts in state["last_funding"]}
            field = "counters"
            self._counters = {str(k): int(v) for k, v in state["counters"].items()}
            field = "council_log"
            self._council_log = [decode_payload(entry.encode()) for entry in state["council_log"]]
            field = "breaker"
            b = state["breaker"]
            self._breaker.load_state(
                BreakerState(b["state"]),
                int(b["since_ns"]),
                map(int, b["errors"]),
                int(b["probes_admitted"]),
                int(b["probes_passed"]),
            )
            field = "drawdown"
            dd = state["drawdown"]
            self._drawdown.restore(
                {k: _D(v) for k, v in dd["peaks"].items()},
                {k: _D(v) for k, v in dd["last"].items()},
            )
            field = "ledger"
            ledger = state["ledger"]
            self._ledger.agents = {a: _unbook(book) for a, book in ledger["agents"].items()}
            self._ledger.venues = {v: _unmirror(m) for v, m in ledger["venues"].items()}
            self._ledger.seen_trades.update((v, tid) for v, tid in ledger["trades"])
            field = "ended"
            self._ended = deque((int(ns), cid) for ns, cid in state["ended"])
            field = "retired"
            rows = state["retired"]
            if any(len(row) != RetiredOrder.ROW_FIELDS for row in rows):
                raise ValueError(f"a retired order without {RetiredOrder.ROW_FIELDS} fields")
            self._retired = {row[0]: row for row in rows}
            at = RetiredOrder.RETIRED_NS
            self._retired_queue = deque((int(row[at]), row[0]) for row in rows)
            field = "log_ns"
            self._log_ns = int(state["log_ns"])
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            self.reset_state()
            raise CheckpointInvalid(field, f"unreadable: {type(exc).__name__}: {exc}") from None

    def reset_state(self) -> None:
        """Return to a fresh engine's state (after a restore that failed half way)."""
        EngineState.__init__(self, self._markets, self._limits, self._clock, config=self._config)
