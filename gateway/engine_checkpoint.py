"""The engine's whole state as a plain dict, and back: what a checkpoint holds.

``checkpoint_state()`` returns a dict of str keys, lists, ints, bools, None and
strings only — Decimals written as ``str`` (digits, exponent and sign come back
exact) — so ``orjson`` writes it as is. ``restore_checkpoint(state)`` rebuilds a
fresh engine from it; then applying the WAL records after the checkpoint gives the
engine a full replay of the log gives (``snapshot()`` compares equal).

Kept: orders (all their fields), tombstones, idempotency keys of retired orders and
the retention queues, the ledger (agent books, venue mirrors with their perp history
since the folded part, the trade ids kept with their times, the newest trade per venue:
the durable fill cursor), the breaker with its counters (error window, probes),
drawdown peaks, the order-rate window, funding times, reconciled venues, counters and
the council's log. Left out, as after any restart: readiness, orders decided but not
sent (``claim_send`` is never true for a restored order: recovery asks the venue), marks.

Compact where it is large: the retired keys and the trade ids are columns (one string
per column, rows parsed only when asked: ``RetiredKeys``), so a million-record log's
checkpoint decodes in a fraction of a second. ``capture_state()`` takes the state
cheaply on the event loop and ``StateCapture.encode()`` builds the dict in a thread.

The format is versioned (``STATE_VERSION``): version 1 (rows per retired order) is
upgraded as it is read; any other is refused with ``CheckpointInvalid``, and recovery
falls back to an older checkpoint or the log.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from core.models import OrderType, Side, TimeInForce
from gateway.breaker import BreakerState
from gateway.engine_errors import RecordRefused
from gateway.engine_retention import RetiredCapture, RetiredKeys, join_column, split_column
from gateway.engine_state import EngineState, OrderCapture, capture_order
from gateway.ledger import AgentBook, Holding, TradeEntry, TradeKey, VenueMirror
from gateway.orders import OrderState, TrackedOrder
from gateway.wal_format import decode_payload, encode_payload

STATE_VERSION = 2
READS = (1, 2)
"""Versions ``restore_checkpoint`` reads: 1 (rows per retired order, trade ids without their
times: kept for ever) is upgraded as it is read."""
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


def _order(captured: OrderCapture) -> list[Any]:
    fields, trade_ids, fees = captured
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
        reason,
        fills_after_terminal,
    ) = fields
    return [
        cid,
        agent,
        intent_id,
        venue,
        symbol,
        str(side),
        str(type_),
        _d(amount),
        _dn(price),
        str(tif),
        post_only,
        reduce_only,
        fingerprint,
        _d(reservation),
        _d(reservation_left),
        probe,
        created_ns,
        updated_ns,
        str(state),
        venue_order_id,
        venue_known,
        _d(filled),
        _d(cost),
        {currency: _d(amount) for currency, amount in fees.items()},
        sorted(trade_ids),
        fills_after_terminal,
        reason,
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


MirrorCapture = tuple[
    dict[str, Decimal],
    dict[str, Holding],
    dict[str, list[TradeEntry]],
    dict[str, tuple[TradeKey, Holding]],
]


def _capture_mirror(mirror: VenueMirror) -> MirrorCapture:
    """Copy what changes in place (holdings, lists); the entries themselves are immutable."""
    return (
        dict(mirror.cash),
        {symbol: _copy_holding(h) for symbol, h in mirror.positions.items()},
        {symbol: list(rows) for symbol, rows in mirror.history.items()},
        {symbol: (key, _copy_holding(h)) for symbol, (key, h) in mirror.folded.items()},
    )


def _copy_holding(h: Holding) -> Holding:
    return Holding(h.contracts, h.basis, h.realized)


def _mirror(captured: MirrorCapture) -> dict[str, Any]:
    cash, positions, history, folded = captured
    return {
        "cash": {asset: _d(amount) for asset, amount in cash.items()},
        "positions": {symbol: _holding(h) for symbol, h in positions.items()},
        "history": {
            symbol: [[ts, n, tid, _d(signed), _d(price)] for (ts, n, tid), signed, price in rows]
            for symbol, rows in history.items()
        },
        "folded": {symbol: [*key, *_holding(h)] for symbol, (key, h) in folded.items()},
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
        folded={
            symbol: ((int(ts), int(n), str(tid)), _unholding(rest))
            for symbol, (ts, n, tid, *rest) in data.get("folded", {}).items()
        },
    )


def _trades(heaps: Mapping[str, list[tuple[int, str]]]) -> dict[str, Any]:
    """The kept trade ids per venue, oldest first: ids as one column, times as ints."""
    venues: dict[str, Any] = {}
    for venue, heap in heaps.items():
        rows = sorted(heap)
        venues[venue] = {
            "count": len(rows),
            "ids": join_column([tid for _, tid in rows]),
            "ts": [ts for ts, _ in rows],
        }
    return venues


def _untrades(data: Mapping[str, Any]) -> dict[str, list[tuple[int, str]]]:
    heaps: dict[str, list[tuple[int, str]]] = {}
    for venue, item in data.items():
        count = int(item["count"])
        ids = split_column(item["ids"], count, f"trades {venue} ids") if count else []
        times = item["ts"]
        if len(times) != count:
            raise ValueError(f"trades {venue}: {len(times)} times for {count} ids")
        heaps[str(venue)] = list(zip(map(int, times), ids, strict=True))  # sorted: a heap
    return heaps


# -- THE STATE ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateCapture:
    """The engine's state at one moment, taken cheaply (on the event loop): ``encode`` makes
    the checkpoint's dict from it, in a thread, while the engine goes on.

    What the engine changes in place is copied (containers, holdings, an order's fields as
    a tuple); what it never changes is shared (Decimals, strings, tuples, the retired
    keys' columns up to their end: ``RetiredCapture``).
    """

    small: dict[str, Any]
    """Already plain: small and cheap to encode on the loop."""
    orders: list[OrderCapture]
    mirrors: dict[str, MirrorCapture]
    trades: dict[str, list[tuple[int, str]]]
    council_log: list[dict[str, Any]]
    retired: RetiredCapture

    def encode(self) -> dict[str, Any]:
        """Return the plain dict ``restore_checkpoint`` reads (see the module doc)."""
        state = dict(self.small)
        state["orders"] = [_order(o) for o in self.orders]
        state["council_log"] = [encode_payload(entry).decode() for entry in self.council_log]
        ledger = state["ledger"] = dict(state["ledger"])
        ledger["venues"] = {venue: _mirror(m) for venue, m in self.mirrors.items()}
        ledger["trades"] = _trades(self.trades)
        state["retired"] = self.retired.encode()
        return state


class CheckpointedState(EngineState):
    """``capture_state``, ``checkpoint_state`` and ``restore_checkpoint`` (see the module doc)."""

    def capture_state(self) -> StateCapture:
        """Take the engine's state now, cheaply (copies of what changes in place); change nothing.

        Call it between two applies (the actor's event loop, never mid-decision): the
        state is then exactly what the records applied so far made. ``encode()`` the
        capture anywhere later (a thread).
        """
        now = self._clock.now_ns()
        horizon = now - self._limits.order_rate_window_ns
        errors, admitted, passed = self._breaker.counters()
        peaks, last = self._drawdown.peaks()
        ledger = self._ledger
        small = {
            "version": STATE_VERSION,
            "log_ns": self._log_ns,
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
                "trade_newest": dict(ledger.trade_newest),
                "trade_horizon": dict(ledger.trade_horizon),
            },
            "ended": [[ns, cid] for ns, cid in self._ended],
        }
        return StateCapture(
            small=small,
            orders=self._capture_orders(),
            # An empty mirror is one a read created (``Ledger.mirror``): a replay has none.
            mirrors={
                venue: _capture_mirror(m)
                for venue, m in ledger.venues.items()
                if m.cash or m.positions or m.history or m.folded
            },
            trades={venue: list(heap) for venue, heap in ledger.trade_times.items()},
            council_log=list(self._council_log),
            retired=self._retired.capture(),
        )

    def _capture_orders(self) -> list[OrderCapture]:
        """Copy each order, reusing the copy of one no record changed since the last capture."""
        cache = self._captured
        captured = []
        for cid, order in self._orders.items():
            copy = cache.get(cid)
            if copy is None:
                copy = cache[cid] = capture_order(order)
            captured.append(copy)
        return captured

    def checkpoint_state(self) -> dict[str, Any]:
        """Return the engine's state as a plain dict (see the module doc); change nothing."""
        return self.capture_state().encode()

    def restore_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Rebuild this engine's state from ``checkpoint_state()``'s dict.

        Only on a fresh engine (nothing applied yet); it stays not ready until
        ``finish_recovery``. Raise ``CheckpointInvalid`` naming the field on a state of
        another version or of the wrong shape (the engine is then unusable: use a new one).
        """
        if self._log_ns or self._orders or self._ledger.agents or self._counters:
            raise CheckpointInvalid("engine", "restore only into a fresh engine")
        version = state.get("version")
        if version not in READS:
            raise CheckpointInvalid("version", f"{version!r}, this code reads {READS}")
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
            field = "ledger.trades"
            if version == 1:
                self._restore_v1_trades(ledger["trades"], int(state["log_ns"]))
            else:
                heaps = _untrades(ledger["trades"])
                self._ledger.trade_times = heaps
                seen = self._ledger.seen_trades
                for venue, rows in heaps.items():
                    seen.update((venue, tid) for _, tid in rows)
                self._ledger.trade_newest = {
                    str(v): int(ts) for v, ts in ledger["trade_newest"].items()
                }
                self._ledger.trade_horizon = {
                    str(v): int(ts) for v, ts in ledger["trade_horizon"].items()
                }
            field = "ended"
            self._ended = deque((int(ns), cid) for ns, cid in state["ended"])
            field = "retired"
            if version == 1:
                self._restore_v1_retired(state["retired"])
            else:
                self._retired = RetiredKeys.decode(state["retired"])
            field = "log_ns"
            self._log_ns = int(state["log_ns"])
        except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as exc:
            self.reset_state()
            raise CheckpointInvalid(field, f"unreadable: {type(exc).__name__}: {exc}") from None

    def _restore_v1_trades(self, trades: list[list[str]], log_ns: int) -> None:
        """Version 1 kept trade ids without their times: each is dated the checkpoint's time
        (never older than the trade), so it is pruned no earlier than its real time allows."""
        at_ms = log_ns // 1_000_000
        for venue, tid in trades:
            self._ledger.seen_trades.add((venue, tid))
            self._ledger.trade_times.setdefault(venue, []).append((at_ms, tid))
        for heap in self._ledger.trade_times.values():
            heap.sort()

    def _restore_v1_retired(self, rows: list[list[Any]]) -> None:
        """Version 1 kept one row per retired order (``RetiredOrder`` fields, in order)."""
        keys = RetiredKeys()
        for row in rows:
            if len(row) != 13:
                raise ValueError("a retired order without 13 fields")
            cid, fp, agent, venue, state, filled, avg, voi, reservation, reason = row[:10]
            created, updated, at = row[10:]
            order = TrackedOrder(
                client_order_id=str(cid),
                agent_id=str(agent),
                intent_id="",
                venue=str(venue),
                symbol="",
                side=Side.BUY,
                type=OrderType.LIMIT,
                amount=_D(filled),
                price=None,
                time_in_force=TimeInForce.GTC,
                post_only=False,
                reduce_only=False,
                fingerprint=str(fp),
                reservation=_D(reservation),
                reservation_left=_D("0"),
                probe=False,
                created_ns=int(created),
                updated_ns=int(updated),
                state=_STATES[state],
                venue_order_id=None if voi is None else str(voi),
                filled=_D(filled),
                cost=_D(avg) * _D(filled) if avg is not None else _D("0"),
                reason=str(reason),
            )
            keys.add(order, int(at))
            key = (order.venue, order.venue_order_id or "")
            if self._by_venue_id.get(key) == order.client_order_id:
                del self._by_venue_id[key]  # version 1 kept it in the order table's index
        self._retired = keys

    def reset_state(self) -> None:
        """Return to a fresh engine's state (after a restore that failed half way)."""
        EngineState.__init__(self, self._markets, self._limits, self._clock, config=self._config)
