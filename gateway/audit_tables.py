"""The audit store's tables and value rules: column specs, exact money, row shapes (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from operator import attrgetter
from typing import Any, Final, Literal

import orjson

# -- THE TABLES ---------------------------------------------------------------

ColumnKind = Literal["text", "int", "bool", "money"]
Row = tuple[Any, ...]

MONEY_PRECISION: Final = 38
MONEY_SCALE: Final = 18


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table: its columns in row order and its primary key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _spec(name: str, key: str, columns: str) -> TableSpec:
    """Return a table from ``"name:kind name:kind ..."``; the key columns are NOT NULL."""
    keys = tuple(key.split())
    parsed = []
    for item in columns.split():
        column, _, kind = item.partition(":")
        if kind not in _KINDS:
            raise ValueError(f"{name}.{column}: unknown kind {kind!r}")
        parsed.append(Column(column, kind, nullable=column not in keys))  # type: ignore[arg-type]
    return TableSpec(name, tuple(parsed), keys)


_KINDS: Final = frozenset({"text", "int", "bool", "money"})

TABLES: Final[Mapping[str, TableSpec]] = {
    spec.name: spec
    for spec in (
        _spec("wal_records", "seq", "seq:int type:text at_ns:int payload:text note:text"),
        _spec(
            "orders",
            "client_order_id",
            "client_order_id:text agent_id:text intent_id:text venue:text symbol:text"
            " side:text type:text time_in_force:text post_only:bool reduce_only:bool"
            " probe:bool amount:money price:money reservation:money state:text"
            " venue_order_id:text venue_known:bool filled:money cost:money reason:text"
            " fingerprint:text created_ns:int updated_ns:int avg_price:money fees:text"
            " trades:int intent_seq:int last_seq:int",
        ),
        _spec(
            "tombstones",
            "client_order_id",
            "client_order_id:text agent_id:text intent_id:text at_ns:int seq:int",
        ),
        _spec(
            "fills",
            "venue trade_id",
            "seq:int venue:text trade_id:text at_ns:int client_order_id:text"
            " venue_order_id:text agent_id:text symbol:text side:text price:money"
            " amount:money fee_cost:money fee_currency:text taker_or_maker:text timestamp:int",
        ),
        _spec(
            "ledger",
            "seq line",
            "seq:int line:int at_ns:int agent_id:text venue:text asset:text amount:money"
            " kind:text symbol:text ref:text client_order_id:text",
        ),
        _spec(
            "breaker_history",
            "seq",
            "seq:int at_ns:int from_state:text to_state:text trigger:text reason:text"
            " detail:text actor:text",
        ),
        _spec("budgets", "seq agent_id", "seq:int agent_id:text at_ns:int amount:money"),
        _spec(
            "reconciliations",
            "seq",
            "seq:int at_ns:int venue:text verdict:text adopted:bool corrections:text"
            " mismatches:text",
        ),
    )
}
"""Every table the projection fills, in the order the store writes them."""

_ORDER_COLUMNS: Final = TABLES["orders"].names


class AuditValueError(ValueError):
    """A money value does not fit ``DECIMAL(38,18)`` exactly; the message names where."""


# -- VALUES -------------------------------------------------------------------

# Enough digits for any DECIMAL(38,18); quantize raises beyond it instead of rounding.
_MONEY_CONTEXT: Final = Context(prec=MONEY_PRECISION, traps=[InvalidOperation])
_QUANTUM: Final = Decimal(1).scaleb(-MONEY_SCALE)


def _money(value: Decimal | None, *where: object) -> Decimal | None:
    """Return ``value`` if DECIMAL(38,18) holds it exactly; else raise ``AuditValueError``."""
    if value is None:
        return None
    try:
        exact = value.quantize(_QUANTUM, context=_MONEY_CONTEXT) == value
    except InvalidOperation:
        exact = False
    if not exact:
        place = " ".join(str(part) for part in where)  # formatted only here: this runs per value
        raise AuditValueError(f"{place}: {value} does not fit DECIMAL(38,18) exactly")
    return value


def _plain(value: Decimal) -> str:
    """Return ``value`` as a plain decimal string without trailing zeros (one text per value)."""
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-safe")


def payload_json(payload: Mapping[str, Any]) -> str:
    """Return ``payload`` as JSON text with sorted keys; a Decimal is its exact string.

    A payload applied live (enum members, Decimals, tuples) and the same payload
    replayed from disk (strings, Decimals, lists) give the same text.
    """
    return orjson.dumps(payload, default=_json_default, option=orjson.OPT_SORT_KEYS).decode()


def _assets(symbol: str) -> tuple[str, str | None, str | None]:
    """Return (base, quote, settle) of a ccxt unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``)."""
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    return base, quote or None, settle or None


def _row(table: str, where: str, source: object, front: Row = (), back: Row = ()) -> Row:
    """Return ``table``'s row: ``front``, the attributes of ``source``, then ``back``.

    Money is checked to fit exactly. Enum values stay members: they are str.
    """
    getter, money = _ROW_SHAPES[table]
    row = (*front, *getter(source), *back)
    for index, name in money:
        _money(row[index], where, name)
    return row


# Columns a row takes from outside its source object: (how many first, how many last).
_EXTRA_COLUMNS: Final = {
    "orders": (0, 5),
    "tombstones": (0, 1),
    "fills": (1, 0),
    "breaker_history": (1, 0),
    "reconciliations": (1, 2),
}
_ROW_SHAPES: Final = {
    table: (
        attrgetter(*TABLES[table].names[first : len(TABLES[table].names) - last]),
        tuple((i, c.name) for i, c in enumerate(TABLES[table].columns) if c.kind == "money"),
    )
    for table, (first, last) in _EXTRA_COLUMNS.items()
}
