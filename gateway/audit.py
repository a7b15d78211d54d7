"""The audit store: the WAL projected into duckdb tables an operator can query.

The WAL is the truth; this store is a projection of it (``gateway.audit_projection``
says what each table holds), written in batches off the order's critical path and
rebuildable from the WAL at any time.

Contract
    ``add(first_seq, records)`` is the gateway's ``AuditSink``: called after each
    WAL commit, it only keeps a reference to the records (no I/O, no parsing).
    Records at or below the last sequence already taken are skipped, so
    re-delivery is harmless. A batch that would leave a hole (its first
    sequence is past the next expected one) is refused and logged: the store
    always holds a contiguous prefix of the WAL, and continues once the
    missing records are fed again (``catch_up`` with the gateway's replay).

    ``flush()`` projects what ``add`` buffered and writes it in ONE
    transaction, table by table from pyarrow batches, together with the last
    sequence in ``meta``. If anything fails, nothing is written and the records
    stay buffered for the next flush; a restarted store continues after
    ``meta.last_seq``.

    ``rebuild(wal_dir, db_path)`` builds a fresh store from the WAL alone into a
    temp file and renames it over ``db_path``: a failure (a corrupt WAL raises
    ``WalCorruption``) leaves no partial file, and an existing ``db_path``
    untouched. It never writes the WAL: a torn tail is skipped, not truncated.

One writer: duckdb allows one writer process, so only the gateway (or one audit
actor) opens the store for writing. ``add`` may run on one thread while
``flush`` runs on another (flush in a worker thread to keep duckdb off the event
loop); flushes are serialized.

CLI::

    python -m gateway.audit rebuild --wal DIR --db FILE   # one JSON line of counts
    python -m gateway.audit dump --db FILE --table orders [--limit N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from gateway.audit_projection import (
    MONEY_PRECISION,
    MONEY_SCALE,
    TABLES,
    AuditProjector,
    ColumnKind,
    Projection,
    Row,
    TableSpec,
)
from gateway.checkpoint import replay_with_archive
from gateway.disk import Disk, OsDisk
from gateway.engine_records import WalRecord
from gateway.wal import Record, Wal

__all__ = ["AuditStats", "AuditStore", "main", "read_table", "rebuild"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
BATCH_ROWS = 65_536
"""Rows per arrow batch handed to duckdb (bounds the memory of one conversion)."""
REBUILD_FLUSH_RECORDS = 50_000

_SQL_TYPES: dict[ColumnKind, str] = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "bool": "BOOLEAN",
    "money": f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})",
}
_ARROW_TYPES: dict[ColumnKind, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "money": pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
}
_SCHEMAS = {
    name: pa.schema([pa.field(c.name, _ARROW_TYPES[c.kind], c.nullable) for c in spec.columns])
    for name, spec in TABLES.items()
}

_Chunk = tuple[int, Sequence[WalRecord]]
"""A run of records with consecutive sequences from the first."""


@dataclass
class AuditStats:
    added: int = 0
    """Records taken by ``add`` (new ones only)."""
    duplicates: int = 0
    """Records ``add`` skipped: already taken."""
    refused: int = 0
    """Records ``add`` refused: they would have left a hole."""
    flushes: int = 0
    rows_written: int = 0
    last_flush_s: float = 0.0


# -- THE STORE ----------------------------------------------------------------


class AuditStore:
    """The WAL's projection in one duckdb file (see the module doc)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(str(self.path))
        try:
            self._flushed_seq = _ensure_schema(self._con, self.path)
        except BaseException:
            self._con.close()
            raise
        self._projector = AuditProjector(self._flushed_seq)
        self._lock = threading.Lock()  # the buffer and the next sequence
        self._flush_lock = threading.Lock()  # the connection and the projector
        self._pending: list[_Chunk] = []
        self._pending_records = 0
        self._next_seq = self._flushed_seq + 1
        self._closed = False
        self.gap: tuple[int, int] | None = None
        """(expected, received) of the last refused batch, until the hole is filled."""
        self.stats = AuditStats()

    @property
    def last_seq(self) -> int:
        """Return the last sequence durable in the store."""
        return self._flushed_seq

    @property
    def pending(self) -> int:
        """Return how many records wait for ``flush``."""
        return self._pending_records

    # -- taking records -------------------------------------------------------

    def add(self, first_seq: int, records: Sequence[WalRecord]) -> None:
        """Buffer records with consecutive sequences from ``first_seq`` (the ``AuditSink`` call)."""
        if not records:
            return
        with self._lock:
            if self._closed:  # never fail the order path: the WAL has the records
                log.warning("audit %s is closed: %d records not taken", self.path, len(records))
                self.stats.refused += len(records)
                return
            skip = self._next_seq - first_seq
            if skip >= len(records):
                self.stats.duplicates += len(records)
                return
            if skip < 0:
                self.stats.refused += len(records)
                if self.gap is None:
                    log.error(
                        "audit %s: refusing records from %d, expected %d; feed the missing "
                        "records (catch_up from the WAL) or rebuild",
                        self.path,
                        first_seq,
                        self._next_seq,
                    )
                self.gap = (self._next_seq, first_seq)
                return
            if skip:
                self.stats.duplicates += skip
                records = records[skip:]
            self._pending.append((self._next_seq, records))
            self._pending_records += len(records)
            self._next_seq += len(records)
            self.stats.added += len(records)
            self.gap = None

    def catch_up(self, records: Iterable[Record], flush_every: int = REBUILD_FLUSH_RECORDS) -> int:
        """Take replayed WAL records (those already stored are skipped), flushing as it goes.

        Return the last sequence stored. Meant for recovery: feed
        ``wal.replay()`` through it and the store continues where it stopped.
        """
        for record in records:
            self.add(record.seq, ((record.type, record.payload),))
            if self._pending_records >= flush_every:
                self.flush()
        self.flush()
        return self._flushed_seq

    # -- writing --------------------------------------------------------------

    def flush(self) -> int:
        """Project and write every buffered record in one transaction; return how many."""
        with self._flush_lock:
            if self._closed:
                return 0
            with self._lock:
                chunks, self._pending = self._pending, []
                count, self._pending_records = self._pending_records, 0
            if not chunks:
                return 0
            started = time.perf_counter()
            try:
                self._prime(chunks)
                for first_seq, records in chunks:
                    self._projector.fold_many(first_seq, records)
                projection = self._projector.take()
                self._write(projection)
            except BaseException:
                # The projector may hold state the rolled-back transaction does
                # not: start it again from the store, and keep the records.
                self._projector = AuditProjector(self._flushed_seq)
                with self._lock:
                    self._pending[:0] = chunks
                    self._pending_records += count
                raise
            self._flushed_seq = projection.last_seq
            self._projector.forget_settled()
            self.stats.flushes += 1
            self.stats.rows_written += projection.count()
            self.stats.last_flush_s = time.perf_counter() - started
            return count

    def _prime(self, chunks: Sequence[_Chunk]) -> None:
        """Tell the projector what the store already holds about the ids the records mention."""
        records = (
            (seq, record_type, payload)
            for first_seq, batch in chunks
            for seq, (record_type, payload) in enumerate(batch, start=first_seq)
        )
        wanted = self._projector.wanted(records)
        if not wanted:
            return
        con = self._con
        names = TABLES["orders"].names
        cids = pa.table({"client_order_id": pa.array(sorted(wanted.client_order_ids), pa.string())})
        venues, trade_ids = zip(*sorted(wanted.trades), strict=True) if wanted.trades else ((), ())
        trades = pa.table(
            {"venue": pa.array(venues, pa.string()), "trade_id": pa.array(trade_ids, pa.string())}
        )
        con.register("_audit_cids", cids)
        con.register("_audit_trades", trades)
        try:
            selected = ", ".join(f"o.{name}" for name in names)
            found = con.execute(
                f"SELECT {selected} FROM orders o JOIN _audit_cids USING (client_order_id)"
            ).fetchall()
            tombstones = con.execute(
                "SELECT t.client_order_id FROM tombstones t "
                "JOIN _audit_cids USING (client_order_id)"
            ).fetchall()
            seen = con.execute(
                "SELECT f.venue, f.trade_id FROM fills f JOIN _audit_trades USING (venue, trade_id)"
            ).fetchall()
        finally:
            con.unregister("_audit_cids")
            con.unregister("_audit_trades")
        self._projector.prime(
            wanted,
            orders=(dict(zip(names, row, strict=True)) for row in found),
            tombstones=(row[0] for row in tombstones),
            trades=((row[0], row[1]) for row in seen),
        )

    def _write(self, projection: Projection) -> None:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            for name, rows in projection.rows.items():
                if rows:
                    _insert(con, TABLES[name], rows)
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'last_seq'", [str(projection.last_seq)]
            )
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # keep the first error, not the rollback's
                con.execute("ROLLBACK")
            raise

    # -- reading and closing --------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Return the number of rows of every table."""
        with self._flush_lock:
            return _counts(self._con)

    def rows(self, table: str) -> list[Row]:
        """Return every row of ``table`` ordered by its key."""
        with self._flush_lock:
            return _select(self._con, TABLES[table])

    def close(self, *, flush: bool = True) -> None:
        """Flush (unless told not to) and close; buffered records stay in the WAL either way."""
        if self._closed:
            return
        try:
            if flush:
                self.flush()
        finally:
            with self._lock:
                self._closed = True
            with self._flush_lock:
                self._con.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(flush=exc[0] is None)


# -- SQL ----------------------------------------------------------------------


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Create the tables if missing; return the last stored sequence."""
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    if not meta:
        con.execute("BEGIN TRANSACTION")
        for spec in TABLES.values():
            con.execute(_ddl(spec))
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?), ('last_seq', '0')", [SCHEMA_VERSION]
        )
        con.execute("COMMIT")
        return 0
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: audit schema {meta.get('schema_version')!r}, this code writes "
            f"{SCHEMA_VERSION!r}: rebuild it from the WAL (python -m gateway.audit rebuild)"
        )
    return int(meta["last_seq"])


def _ddl(spec: TableSpec) -> str:
    columns = [
        f"{c.name} {_SQL_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}" for c in spec.columns
    ]
    columns.append(f"PRIMARY KEY ({', '.join(spec.key)})")
    return f"CREATE TABLE {spec.name} ({', '.join(columns)})"


def _insert(con: duckdb.DuckDBPyConnection, spec: TableSpec, rows: Sequence[Row]) -> None:
    """Insert ``rows`` through arrow batches; ``orders`` rows replace the rows they update."""
    names = ", ".join(spec.names)
    # Only orders are rewritten: every other table is keyed by a sequence (or a
    # trade id the projector has checked) and grows only.
    verb = "INSERT OR REPLACE" if spec.name == "orders" else "INSERT"
    schema = _SCHEMAS[spec.name]
    for start in range(0, len(rows), BATCH_ROWS):
        columns = list(zip(*rows[start : start + BATCH_ROWS], strict=True))
        batch = pa.Table.from_arrays(
            [pa.array(values, field.type) for values, field in zip(columns, schema, strict=True)],
            schema=schema,
        )
        con.register("_audit_batch", batch)
        try:
            con.execute(f"{verb} INTO {spec.name} ({names}) SELECT {names} FROM _audit_batch")
        finally:
            con.unregister("_audit_batch")


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in TABLES:
        # fetchall, not fetchone: duckdb refuses other work while a result is unfinished.
        [(count,)] = con.execute(f"SELECT count(*) FROM {name}").fetchall()
        counts[name] = int(count)
    return counts


def _select(con: duckdb.DuckDBPyConnection, spec: TableSpec, limit: int | None = None) -> list[Row]:
    sql = f"SELECT {', '.join(spec.names)} FROM {spec.name} ORDER BY {', '.join(spec.key)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [tuple(row) for row in con.execute(sql).fetchall()]


def read_table(db_path: str | Path, table: str, limit: int | None = None) -> list[Row]:
    """Return ``table``'s rows ordered by key from a store no one is writing (read-only)."""
    spec = TABLES.get(table)
    if spec is None:
        raise ValueError(f"no audit table {table!r}; the tables are {', '.join(TABLES)}")
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return _select(con, spec, limit)
    finally:
        con.close()


# -- REBUILD ------------------------------------------------------------------


class _ReadOnlyDisk:
    """The WAL's disk for reading only: rebuild must never change the log it reads."""

    def __init__(self, disk: OsDisk) -> None:
        self._disk = disk

    def describe(self, name: str) -> str:
        return self._disk.describe(name)

    def listdir(self) -> list[str]:
        return self._disk.listdir()

    def read(self, name: str) -> bytes:
        return self._disk.read(name)

    def truncate(self, name: str, size: int) -> None:
        # A torn tail may be a commit in progress: leave it to the log's owner.
        log.warning("audit rebuild: ignoring a torn tail of %s after byte %d", name, size)

    def open(self, name: str, *, truncate: bool = False) -> int:
        raise PermissionError(f"read-only WAL: cannot open {self.describe(name)} for writing")

    def append(self, handle: int, data: bytes) -> None:
        raise PermissionError("read-only WAL")

    def fsync(self, handle: int) -> None:
        raise PermissionError("read-only WAL")

    def close(self, handle: int) -> None:
        raise PermissionError("read-only WAL")

    def rename(self, source: str, target: str) -> None:
        raise PermissionError("read-only WAL")

    def remove(self, name: str) -> None:
        raise PermissionError("read-only WAL")

    def fsync_dir(self) -> None:
        raise PermissionError("read-only WAL")


def _remove_db(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def rebuild(
    wal_dir: str | Path, db_path: str | Path, *, archive_dir: str | Path | None = None
) -> dict[str, int]:
    """Build the store at ``db_path`` from the WAL in ``wal_dir`` alone; return rows per table.

    Every record from sequence 1 is replayed: from ``archive_dir`` (where the gateway
    moves the segments its checkpoints retired) then ``wal_dir``. A log whose first
    segments are in neither cannot be rebuilt from, and says so. The new file replaces ``db_path`` atomically;
    on any error (``WalCorruption`` for a damaged log) no file is left behind
    and an existing ``db_path`` is unchanged. Close any store open on
    ``db_path`` first: duckdb allows one writer.
    """
    wal_dir, db_path = Path(wal_dir), Path(db_path)
    if not wal_dir.is_dir():
        raise FileNotFoundError(f"no WAL directory at {wal_dir}")
    temp = db_path.with_name(f".{db_path.name}.rebuild")
    _remove_db(temp)
    try:
        store = AuditStore(temp)
        try:
            if archive_dir is not None:
                store.catch_up(replay_with_archive(wal_dir, archive_dir))
            else:
                disk: Disk = _ReadOnlyDisk(OsDisk(wal_dir))
                store.catch_up(Wal(wal_dir, disk=disk).replay(after_seq=0))
            counts = store.counts()
        finally:
            store.close(flush=False)
        if temp.with_name(temp.name + ".wal").exists():
            raise RuntimeError(f"duckdb left a log beside {temp}: the file is not complete alone")
    except BaseException as exc:
        _remove_db(temp)
        exc.add_note(f"audit rebuild of {db_path} from {wal_dir} failed: nothing was written")
        raise
    # A stale duckdb log beside the old file would be replayed into the new one.
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(temp, db_path)
    _fsync_dir(db_path.parent)
    return counts


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- CLI ----------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rebuild`` or ``dump`` command; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m gateway.audit", description="The audit store: rebuild it, or dump a table."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("rebuild", help="build the audit store from the WAL alone")
    build.add_argument("--wal", required=True, type=Path, help="the WAL directory")
    build.add_argument("--db", required=True, type=Path, help="the duckdb file to (re)create")
    build.add_argument(
        "--archive", type=Path, default=None, help="retired segments (<state_dir>/wal-archive)"
    )
    dump = commands.add_parser("dump", help="print a table's rows as JSON lines")
    dump.add_argument("--db", required=True, type=Path)
    dump.add_argument("--table", required=True, choices=sorted(TABLES))
    dump.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "rebuild":
            started = time.perf_counter()
            counts = rebuild(args.wal, args.db, archive_dir=args.archive)
            line = {
                "db": str(args.db),
                "tables": counts,
                "took_s": round(time.perf_counter() - started, 3),
            }
            print(json.dumps(line, sort_keys=True))
            return 0
        names = TABLES[args.table].names
        for row in read_table(args.db, args.table, args.limit):
            print(json.dumps({n: _json_value(v) for n, v in zip(names, row, strict=True)}))
        return 0
    except Exception as exc:
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
        print(f"audit {args.command} failed: {type(exc).__name__}: {exc}{notes}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
