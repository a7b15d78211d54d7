"""What the engine keeps of an order once it has left the order table: its idempotency key.

A terminal order stays in the engine's order table for ``terminal_order_retention_ns``
after its last change (the venue's query window: late trades and status answers still
find it). Then it is *retired*: the table drops it and keeps a ``RetiredOrder``, small,
under its client order id, for ``idempotency_retention_ns`` more (None: for ever). An
agent that repeats the intent meanwhile gets the original answer (``retired_view``),
never a second order; a late trade of it is booked to its agent, not taken for an
order without an intent.

Retiring reads only the log's own time (the ``at_ns`` of the records applied), so a
replay retires exactly what the live run retired, and a checkpoint carries the queues.
The keys are kept as columns of strings (``RetiredKeys``): a week of them (hundreds of
thousands) restores in a few splits and is captured for a checkpoint without a copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from gateway.intents import OrderIntent
from gateway.orders import OrderState, OrderView, TrackedOrder


@dataclass(frozen=True, slots=True)
class RetiredOrder:
    """A terminal order dropped from the table: enough to answer a repeated intent."""

    fingerprint: str
    agent_id: str
    venue: str
    state: OrderState
    filled: Decimal
    average_price: Decimal | None
    venue_order_id: str | None
    reservation: Decimal
    reason: str
    created_ns: int
    updated_ns: int
    retired_ns: int

    @classmethod
    def of(cls, order: TrackedOrder, retired_ns: int) -> RetiredOrder:
        return cls(
            fingerprint=order.fingerprint,
            agent_id=order.agent_id,
            venue=order.venue,
            state=order.state,
            filled=order.filled,
            average_price=order.average_price,
            venue_order_id=order.venue_order_id,
            reservation=order.reservation,
            reason=order.reason,
            created_ns=order.created_ns,
            updated_ns=order.updated_ns,
            retired_ns=retired_ns,
        )

    def packed(self) -> str:
        """Return the form ``RetiredKeys`` keeps: one line of tab-separated fields.

        Venue, venue order id, client order id and the retirement time are kept beside
        it (columns of their own); the reason, the only free text, is JSON-quoted, so a
        line never holds a tab or a newline of its own.
        """
        return "\t".join(
            (
                self.fingerprint,
                self.agent_id,
                str(self.state),
                str(self.filled),
                "" if self.average_price is None else str(self.average_price),
                str(self.reservation),
                str(self.created_ns),
                str(self.updated_ns),
                orjson.dumps(self.reason).decode(),
            )
        )

    @classmethod
    def unpack(cls, packed: str, venue: str, venue_order_id: str, retired_ns: int) -> RetiredOrder:
        """Parse what ``packed`` wrote (``venue_order_id`` "" for none)."""
        fp, agent, state, filled, avg, reservation, created, updated, reason = packed.split("\t", 8)
        return cls(
            fingerprint=fp,
            agent_id=agent,
            venue=venue,
            state=OrderState(state),
            filled=Decimal(filled),
            average_price=Decimal(avg) if avg else None,
            venue_order_id=venue_order_id or None,
            reservation=Decimal(reservation),
            reason=str(orjson.loads(reason)),
            created_ns=int(created),
            updated_ns=int(updated),
            retired_ns=retired_ns,
        )


# -- THE KEYS KEPT ----------------------------------------------------------------

_COMPACT_AFTER = 1 << 16
"""Drop the expired front of the columns once this many (and half of them) have expired."""
_SEP = "\n"


def join_column(values: Sequence[str]) -> str | list[str]:
    """Return ``values`` as one string joined by newlines (cheap to write and read back),
    or as the list itself when one holds a newline or the column is empty."""
    if not values or any(_SEP in v for v in values):
        return list(values)
    return _SEP.join(values)


def split_column(column: Any, count: int, name: str) -> list[str]:
    """Return the strings ``join_column`` wrote; raise ``ValueError`` unless there are ``count``."""
    values = column.split(_SEP) if type(column) is str else list(column)
    if len(values) != count or any(type(v) is not str for v in values[:1]):
        raise ValueError(f"{name}: {len(values)} values, not {count}")
    return values


@dataclass(frozen=True, slots=True)
class RetiredCapture:
    """The keys kept at one moment, without a copy: the columns up to ``end`` never change.

    ``RetiredKeys`` only appends to its columns, and replaces them (never edits them) when
    it drops their expired front: a capture taken on the event loop can be encoded in a
    thread while the engine goes on.
    """

    cids: list[str]
    ns: list[int]
    venues: list[str]
    vois: list[str]
    rows: list[str]
    head: int
    end: int

    def encode(self) -> dict[str, Any]:
        """Return the checkpoint's form: each column one string (or a list), venues as a table."""
        span = slice(self.head, self.end)
        venues = self.venues[span]
        table = sorted(set(venues))
        code = {venue: chr(48 + i) for i, venue in enumerate(table)}
        return {
            "count": self.end - self.head,
            "cids": join_column(self.cids[span]),
            "ns": self.ns[span],
            "venue_table": table,
            "venues": "".join(map(code.__getitem__, venues)),
            "vois": join_column(self.vois[span]),
            "rows": join_column(self.rows[span]),
        }


class RetiredKeys:
    """Retired orders' idempotency keys, oldest first, with an index by client order id.

    Kept as parallel columns of plain strings (a packed row per order, parsed only when
    a repeated intent or a late fact asks), so hundreds of thousands of keys restore
    from a checkpoint in a few splits, and a checkpoint captures them without a copy.
    Keys leave in the order they came (``expire``). The venue order ids of retired
    orders are indexed here too (a late trade naming only the venue's id).
    """

    __slots__ = (
        "_base",
        "_by_venue_id",
        "_cids",
        "_head",
        "_index",
        "_ns",
        "_rows",
        "_venues",
        "_vois",
    )

    def __init__(self) -> None:
        self._cids: list[str] = []
        self._ns: list[int] = []
        self._venues: list[str] = []
        self._vois: list[str] = []
        """The venue's order id, "" for none."""
        self._rows: list[str] = []
        self._head = 0
        """The index in the columns of the oldest key kept."""
        self._base = 0
        """The absolute position of the columns' index 0 (positions never move)."""
        self._index: dict[str, int] = {}
        self._by_venue_id: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, client_order_id: object) -> bool:
        return client_order_id in self._index

    def get(self, client_order_id: str) -> RetiredOrder | None:
        at = self._index.get(client_order_id)
        if at is None:
            return None
        i = at - self._base
        return RetiredOrder.unpack(self._rows[i], self._venues[i], self._vois[i], self._ns[i])

    def fingerprint(self, client_order_id: str) -> str | None:
        at = self._index.get(client_order_id)
        return None if at is None else self._rows[at - self._base].split("\t", 1)[0]

    def cid_for_venue_id(self, venue: str, venue_order_id: str) -> str | None:
        found = self._by_venue_id.get(venue)
        return found.get(venue_order_id) if found is not None else None

    def add(self, order: TrackedOrder, retired_ns: int) -> None:
        """Keep ``order``'s key (it leaves the order table now)."""
        cid = order.client_order_id
        voi = order.venue_order_id or ""
        self._index[cid] = self._base + len(self._cids)
        self._cids.append(cid)
        self._ns.append(retired_ns)
        self._venues.append(order.venue)
        self._vois.append(voi)
        self._rows.append(RetiredOrder.of(order, retired_ns).packed())
        if voi:
            self._by_venue_id.setdefault(order.venue, {})[voi] = cid

    def expire(self, horizon_ns: int) -> int:
        """Forget the keys retired at or before ``horizon_ns``; return how many."""
        ns, cids, head = self._ns, self._cids, self._head
        end = len(ns)
        start = head
        while head < end and ns[head] <= horizon_ns:
            cid = cids[head]
            if self._index.get(cid) == self._base + head:
                del self._index[cid]
            voi = self._vois[head]
            if voi:
                found = self._by_venue_id.get(self._venues[head])
                if found is not None and found.get(voi) == cid:
                    del found[voi]
            head += 1
        self._head = head
        if head >= _COMPACT_AFTER and 2 * head >= end:
            # New lists, never an edit in place: a capture may still read the old ones.
            self._cids, self._ns = cids[head:], ns[head:]
            self._venues, self._vois = self._venues[head:], self._vois[head:]
            self._rows = self._rows[head:]
            self._base += head
            self._head = 0
        return head - start

    def tally(self) -> dict[str, tuple[int, int]]:
        """Return per agent ``(orders, orders with a fill)`` among the keys kept.

        What a run's summary adds to the live table's orders: a retired order still
        counts as placed (and filled) for as long as its key is kept.
        """
        out: dict[str, list[int]] = {}
        base = self._base
        for at in self._index.values():
            fields = self._rows[at - base].split("\t", 4)
            counts = out.setdefault(fields[1], [0, 0])
            counts[0] += 1
            counts[1] += Decimal(fields[3]) > 0
        return {agent: (n, filled) for agent, (n, filled) in sorted(out.items())}

    def capture(self) -> RetiredCapture:
        """Return the keys as they are now, in O(1) (see ``RetiredCapture``)."""
        return RetiredCapture(
            self._cids, self._ns, self._venues, self._vois, self._rows, self._head, len(self._cids)
        )

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> RetiredKeys:
        """Rebuild the keys from ``RetiredCapture.encode``; ``ValueError`` on a bad shape."""
        count = int(data["count"])
        keys = cls()
        if not count:
            return keys
        keys._cids = split_column(data["cids"], count, "cids")
        keys._vois = split_column(data["vois"], count, "vois")
        keys._rows = split_column(data["rows"], count, "rows")
        ns = data["ns"]
        if type(ns) is not list or len(ns) != count or type(ns[0]) is not int:
            raise ValueError(f"ns: not {count} ints")
        keys._ns = ns
        table = data["venue_table"]
        lookup = {chr(48 + i): str(venue) for i, venue in enumerate(table)}
        codes = data["venues"]
        if type(codes) is not str or len(codes) != count:
            raise ValueError(f"venues: not {count} codes")
        keys._venues = list(map(lookup.__getitem__, codes))
        keys._index = dict(zip(keys._cids, range(count), strict=True))
        if len(table) == 1:
            keys._by_venue_id = {str(table[0]): dict(zip(keys._vois, keys._cids, strict=True))}
            keys._by_venue_id[str(table[0])].pop("", None)
        else:
            for venue, voi, cid in zip(keys._venues, keys._vois, keys._cids, strict=True):
                if voi:
                    keys._by_venue_id.setdefault(venue, {})[voi] = cid
        return keys


def retired_view(client_order_id: str, intent: OrderIntent, retired: RetiredOrder) -> OrderView:
    """Return the view of a retired order for a repeated ``intent`` (same fingerprint).

    The intent's fields are the order's (the fingerprint says so); state, fill and
    times are the retired order's. Fees and trade ids are not kept: the books hold them.
    """
    return OrderView(
        client_order_id=client_order_id,
        agent_id=retired.agent_id,
        intent_id=intent.intent_id,
        venue=intent.venue,
        symbol=intent.symbol,
        side=intent.side,
        type=intent.type,
        amount=intent.amount,
        price=intent.price,
        time_in_force=intent.time_in_force,
        post_only=intent.post_only,
        reduce_only=intent.reduce_only,
        state=retired.state,
        venue_order_id=retired.venue_order_id,
        filled=retired.filled,
        average_price=retired.average_price,
        fees={},
        trade_ids=(),
        reservation=retired.reservation,
        reservation_left=Decimal(0),
        reason=retired.reason,
        created_ns=retired.created_ns,
        updated_ns=retired.updated_ns,
    )
