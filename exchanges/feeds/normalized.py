"""The normalized recording format: a time-sorted stream of ``MarketEvent``s in one parquet file.

A recording is a ``*.swarm.parquet`` file with one row per event. The common
columns are ``kind``, ``ts_ns``, ``venue`` and ``symbol``; every other column
belongs to one or more kinds and is NULL elsewhere. Prices, amounts and rates
are exact decimal strings (``VARCHAR``), never floats, so a round trip gives
back the very same ``Decimal`` (exponent included). Book levels are a JSON
array of ``[price, amount]`` string pairs.

The parquet key/value metadata holds ``swarm.format`` (``"events"``) and
``swarm.format_version``; a reader refuses any version it does not know. The
caller's own metadata (provenance, recorder settings) sits next to it under
keys that do not start with ``swarm.``.

Files are written and read through duckdb (allowed in this adapter; never in
``core/``). Writing is atomic: a temporary file in the same directory is
written, fsynced and renamed over the target.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import orjson
import pyarrow as pa

from core.errors import DataFormatError, InvalidValue
from core.events import (
    Bar,
    BookDelta,
    FundingEvent,
    GapEvent,
    Level,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from core.money import to_decimal

SUFFIX = ".swarm.parquet"
FORMAT_KEY = "swarm.format"
FORMAT_NAME = "events"
VERSION_KEY = "swarm.format_version"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({1})
_RESERVED_PREFIX = "swarm."
_READ_BATCH_ROWS = 8192
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

# -- SCHEMA -----------------------------------------------------------------

_STR = pa.string()
_I64 = pa.int64()
_BOOL = pa.bool_()

COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("kind", _STR),
    ("ts_ns", _I64),
    ("venue", _STR),
    ("symbol", _STR),
    # book_delta
    ("bids", _STR),
    ("asks", _STR),
    ("snapshot", _BOOL),
    ("sequence", _I64),
    # top_of_book
    ("bid", _STR),
    ("bid_size", _STR),
    ("ask", _STR),
    ("ask_size", _STR),
    # trade, liquidation
    ("price", _STR),
    ("amount", _STR),
    ("side", _STR),
    ("trade_id", _STR),
    ("source", _STR),
    # bar
    ("open", _STR),
    ("high", _STR),
    ("low", _STR),
    ("close", _STR),
    ("volume", _STR),
    ("interval_s", _I64),
    # funding, mark
    ("rate", _STR),
    ("interval_hours", _STR),
    ("mark_price", _STR),
    ("index_price", _STR),
    ("funding_rate", _STR),
    ("next_funding_ns", _I64),
    ("open_interest", _STR),
    # gap
    ("reason", _STR),
    ("expected", _I64),
    ("got", _I64),
)
SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in COLUMNS])
_COLUMN_NAMES = tuple(name for name, _ in COLUMNS)

KIND_BY_TYPE: dict[type, str] = {
    BookDelta: "book_delta",
    TopOfBook: "top_of_book",
    TradeTick: "trade",
    Bar: "bar",
    FundingEvent: "funding",
    MarkEvent: "mark",
    Liquidation: "liquidation",
    GapEvent: "gap",
}

# -- WRITE ------------------------------------------------------------------


def _dec_out(value: Any, field: str) -> str:
    return str(to_decimal(value, field))


def _opt_dec_out(value: Any, field: str) -> str | None:
    return None if value is None else _dec_out(value, field)


def _int_out(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(field, value, "must be an int")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidValue(field, value, "does not fit a 64-bit integer")
    return value


def _levels_out(levels: Iterable[Level], field: str) -> str:
    pairs = [[_dec_out(price, field), _dec_out(amount, field)] for price, amount in levels]
    return orjson.dumps(pairs).decode()


def _row_of(event: MarketEvent) -> dict[str, Any]:
    kind = KIND_BY_TYPE.get(type(event))
    if kind is None:
        raise InvalidValue("event", event, "not a MarketEvent")
    row: dict[str, Any] = {
        "kind": kind,
        "ts_ns": _int_out(event.ts_ns, "ts_ns"),
        "venue": event.venue,
        "symbol": event.symbol,
    }
    if row["ts_ns"] is None or not event.venue or not event.symbol:
        raise InvalidValue("event", event, "ts_ns, venue and symbol are required")
    if isinstance(event, BookDelta):
        row["bids"] = _levels_out(event.bids, "bids")
        row["asks"] = _levels_out(event.asks, "asks")
        row["snapshot"] = bool(event.snapshot)
        row["sequence"] = _int_out(event.sequence, "sequence")
    elif isinstance(event, TopOfBook):
        for name in ("bid", "bid_size", "ask", "ask_size"):
            row[name] = _dec_out(getattr(event, name), name)
    elif isinstance(event, TradeTick):
        row["price"] = _dec_out(event.price, "price")
        row["amount"] = _dec_out(event.amount, "amount")
        row["side"] = event.side
        row["trade_id"] = event.trade_id
    elif isinstance(event, Bar):
        for name in ("open", "high", "low", "close", "volume"):
            row[name] = _dec_out(getattr(event, name), name)
        row["interval_s"] = _int_out(event.interval_s, "interval_s")
    elif isinstance(event, FundingEvent):
        row["rate"] = _dec_out(event.rate, "rate")
        row["interval_hours"] = _dec_out(event.interval_hours, "interval_hours")
        row["mark_price"] = _opt_dec_out(event.mark_price, "mark_price")
    elif isinstance(event, MarkEvent):
        for name in ("mark_price", "index_price", "funding_rate", "open_interest"):
            row[name] = _opt_dec_out(getattr(event, name), name)
        row["next_funding_ns"] = _int_out(event.next_funding_ns, "next_funding_ns")
    elif isinstance(event, Liquidation):
        row["side"] = event.side
        row["price"] = _dec_out(event.price, "price")
        row["amount"] = _dec_out(event.amount, "amount")
        row["source"] = event.source
    else:  # GapEvent
        row["reason"] = event.reason
        row["expected"] = _int_out(event.expected, "expected")
        row["got"] = _int_out(event.got, "got")
    return row


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_identifier(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_events(
    path: Path | str,
    events: Iterable[MarketEvent],
    *,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Write ``events`` sorted by ``ts_ns`` (stable) to ``path`` atomically; return the row count.

    Raise ``InvalidValue`` for an event that cannot be stored exactly (a float
    price, a non-finite decimal, an integer beyond 64 bits) or a metadata key in
    the reserved ``swarm.`` namespace; nothing is written then.
    """
    path = Path(path)
    user_metadata = dict(metadata or {})
    for key, value in user_metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidValue("metadata", {key: value}, "keys and values must be str")
        if key.startswith(_RESERVED_PREFIX):
            raise InvalidValue("metadata", key, f"keys starting {_RESERVED_PREFIX!r} are reserved")
    rows = sorted((_row_of(event) for event in events), key=lambda row: int(row["ts_ns"]))
    columns = {name: [row.get(name) for row in rows] for name in _COLUMN_NAMES}
    table = pa.Table.from_pydict(columns, schema=SCHEMA)

    kv = {FORMAT_KEY: FORMAT_NAME, VERSION_KEY: str(FORMAT_VERSION), **user_metadata}
    kv_sql = ", ".join(f"{_sql_identifier(k)}: {_sql_string(v)}" for k, v in kv.items())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect(":memory:") as con:
            con.execute("SET preserve_insertion_order = true")
            con.register("swarm_events", table)
            con.execute(
                f"COPY (SELECT * FROM swarm_events) TO {_sql_string(str(tmp))} "
                f"(FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv_sql}}})"
            )
        _fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_path(path.parent, directory=True)
    return len(rows)


# -- READ -------------------------------------------------------------------


class _BadValue(Exception):
    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(f"{field}={value!r}: {reason}")


def _required(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None:
        raise _BadValue(name, None, "is required for this kind")
    return value


def _text(row: Mapping[str, Any], name: str) -> str:
    value = _required(row, name)
    if not isinstance(value, str) or not value:
        raise _BadValue(name, value, "must be a non-empty string")
    return value


def _dec(row: Mapping[str, Any], name: str) -> Decimal:
    return _to_dec(_required(row, name), name)


def _opt_dec(row: Mapping[str, Any], name: str) -> Decimal | None:
    value = row.get(name)
    return None if value is None else _to_dec(value, name)


def _to_dec(value: Any, name: str) -> Decimal:
    if not isinstance(value, str):
        raise _BadValue(name, value, "must be a decimal string")
    try:
        return to_decimal(value, name)
    except InvalidValue as exc:
        raise _BadValue(name, value, exc.reason) from None


def _int(row: Mapping[str, Any], name: str) -> int:
    value = _required(row, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadValue(name, value, "must be an integer")
    return value


def _opt_int(row: Mapping[str, Any], name: str) -> int | None:
    return None if row.get(name) is None else _int(row, name)


def _side(row: Mapping[str, Any]) -> Literal["buy", "sell"]:
    value = row.get("side")
    if value == "buy":
        return "buy"
    if value == "sell":
        return "sell"
    raise _BadValue("side", value, "must be 'buy' or 'sell'")


def _source(row: Mapping[str, Any]) -> Literal["recorded", "model"]:
    value = row.get("source")
    if value == "recorded":
        return "recorded"
    if value == "model":
        return "model"
    raise _BadValue("source", value, "must be 'recorded' or 'model'")


def _levels(row: Mapping[str, Any], name: str) -> tuple[Level, ...]:
    text = _required(row, name)
    try:
        pairs = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _BadValue(name, text, f"not JSON ({exc})") from None
    if not isinstance(pairs, list):
        raise _BadValue(name, text, "must be a JSON array of [price, amount] pairs")
    levels: list[Level] = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _BadValue(name, pair, "each level must be a [price, amount] pair")
        levels.append((_to_dec(pair[0], f"{name}.price"), _to_dec(pair[1], f"{name}.amount")))
    return tuple(levels)


def _snapshot(row: Mapping[str, Any]) -> bool:
    value = _required(row, "snapshot")
    if not isinstance(value, bool):
        raise _BadValue("snapshot", value, "must be a boolean")
    return value


def _decode_book_delta(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    return BookDelta(
        ts,
        venue,
        symbol,
        _levels(row, "bids"),
        _levels(row, "asks"),
        _snapshot(row),
        _opt_int(row, "sequence"),
    )


def _decode_top(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    return TopOfBook(
        ts,
        venue,
        symbol,
        _dec(row, "bid"),
        _dec(row, "bid_size"),
        _dec(row, "ask"),
        _dec(row, "ask_size"),
    )


def _decode_trade(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    trade_id = row.get("trade_id")
    if trade_id is not None and not isinstance(trade_id, str):
        raise _BadValue("trade_id", trade_id, "must be a string")
    return TradeTick(
        ts, venue, symbol, _dec(row, "price"), _dec(row, "amount"), _side(row), trade_id
    )


def _decode_bar(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    return Bar(
        ts,
        venue,
        symbol,
        _dec(row, "open"),
        _dec(row, "high"),
        _dec(row, "low"),
        _dec(row, "close"),
        _dec(row, "volume"),
        _int(row, "interval_s"),
    )


def _decode_funding(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    return FundingEvent(
        ts,
        venue,
        symbol,
        _dec(row, "rate"),
        _dec(row, "interval_hours"),
        _opt_dec(row, "mark_price"),
    )


def _decode_mark(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    return MarkEvent(
        ts,
        venue,
        symbol,
        _opt_dec(row, "mark_price"),
        _opt_dec(row, "index_price"),
        _opt_dec(row, "funding_rate"),
        _opt_int(row, "next_funding_ns"),
        _opt_dec(row, "open_interest"),
    )


def _decode_liquidation(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    return Liquidation(
        ts, venue, symbol, _side(row), _dec(row, "price"), _dec(row, "amount"), _source(row)
    )


def _decode_gap(row: Mapping[str, Any], ts: int, venue: str, symbol: str) -> MarketEvent:
    reason = _required(row, "reason")
    if not isinstance(reason, str):
        raise _BadValue("reason", reason, "must be a string")
    return GapEvent(ts, venue, symbol, reason, _opt_int(row, "expected"), _opt_int(row, "got"))


_Decoder = Callable[[Mapping[str, Any], int, str, str], MarketEvent]
_DECODERS: dict[str, _Decoder] = {
    "book_delta": _decode_book_delta,
    "top_of_book": _decode_top,
    "trade": _decode_trade,
    "bar": _decode_bar,
    "funding": _decode_funding,
    "mark": _decode_mark,
    "liquidation": _decode_liquidation,
    "gap": _decode_gap,
}


def decode_row(row: Mapping[str, Any]) -> MarketEvent:
    """Turn one row (column name -> value) into its event; raise ``ValueError`` naming the field."""
    try:
        kind = row.get("kind")
        decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
        if decoder is None:
            raise _BadValue("kind", kind, f"unknown event kind (known: {sorted(_DECODERS)})")
        return decoder(row, _int(row, "ts_ns"), _text(row, "venue"), _text(row, "symbol"))
    except _BadValue as exc:
        raise ValueError(str(exc)) from None


def _duckdb_reason(exc: duckdb.Error) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_metadata(path: Path | str) -> dict[str, str]:
    """Return the parquet key/value metadata of ``path`` (format keys included).

    Raise ``DataFormatError`` if the file is missing, not parquet, or not a Swarm
    events file of a version this build reads.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, "no such file")
    try:
        with duckdb.connect(":memory:") as con:
            pairs = con.execute(
                "SELECT key, value FROM parquet_kv_metadata(?)", [str(path)]
            ).fetchall()
    except duckdb.Error as exc:
        raise DataFormatError(path, f"not a readable parquet file: {_duckdb_reason(exc)}") from exc
    metadata: dict[str, str] = {}
    for key, value in pairs:
        try:
            metadata[bytes(key).decode()] = bytes(value).decode()
        except UnicodeDecodeError:
            continue  # a foreign binary entry: not ours, not needed
    if metadata.get(FORMAT_KEY) != FORMAT_NAME or VERSION_KEY not in metadata:
        raise DataFormatError(path, f"not a Swarm events file (no {VERSION_KEY} metadata)")
    version = metadata[VERSION_KEY]
    if not version.isdigit() or int(version) not in SUPPORTED_VERSIONS:
        raise DataFormatError(
            path,
            f"format version {version!r} is not supported by this build "
            f"(reads {sorted(SUPPORTED_VERSIONS)}); upgrade Swarm to read it",
        )
    return metadata


def read_events(path: Path | str) -> Iterator[MarketEvent]:
    """Return an iterator over the events of ``path``, sorted by ``ts_ns`` (file order on ties).

    The file, its format version and its columns are checked now; a bad row is
    found while iterating. Either raises ``DataFormatError`` naming the file
    (and the 1-based row number in the file, as ``line``).
    """
    path = Path(path)
    read_metadata(path)
    con = duckdb.connect(":memory:")
    try:
        described = con.execute(
            "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(path)]
        ).fetchall()
        have = {str(name): str(dtype) for name, dtype, *_ in described}
        wanted = {name: "BIGINT" if dtype == _I64 else "VARCHAR" for name, dtype in COLUMNS}
        wanted["snapshot"] = "BOOLEAN"
        missing = [name for name in wanted if name not in have]
        if missing:
            raise DataFormatError(path, f"missing columns {missing}")
        wrong = [f"{n} is {have[n]}, want {t}" for n, t in wanted.items() if have[n] != t]
        if wrong:
            raise DataFormatError(path, "bad column types: " + "; ".join(wrong))
        select = ", ".join(_sql_identifier(name) for name in _COLUMN_NAMES)
        reader = con.sql(
            f"SELECT {select}, file_row_number FROM read_parquet(?, file_row_number = true, "
            "hive_partitioning = false) "
            "ORDER BY ts_ns, file_row_number",
            params=[str(path)],
        ).to_arrow_reader(_READ_BATCH_ROWS)
    except duckdb.Error as exc:
        con.close()
        raise DataFormatError(path, f"cannot read: {_duckdb_reason(exc)}") from exc
    except BaseException:
        con.close()
        raise
    return _iterate(path, con, reader)


def _iterate(
    path: Path, con: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader
) -> Iterator[MarketEvent]:
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (duckdb.Error, pa.ArrowException) as exc:
                raise DataFormatError(path, f"cannot read: {exc}") from exc
            for row in batch.to_pylist():
                try:
                    yield decode_row(row)
                except ValueError as exc:
                    number = int(row["file_row_number"]) + 1
                    kind = row.get("kind")
                    raise DataFormatError(
                        path, f"row {number} (kind={kind!r}): {exc}", line=number
                    ) from None
    finally:
        con.close()
