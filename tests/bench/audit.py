"""Benchmark: the audit store's flush of 100k WAL records, beside two bare duckdb baselines.

The records are an order's usual life, repeated: INTENT, RESULT (accepted),
two FILLs, ORDER_STATUS (closed), with a BUDGET and a CANCEL now and then,
handed to ``AuditStore.add`` in batches of 10 as the gateway commits them.

- ``store``: ``AuditStore.flush`` of all 100k records in one flush (projection,
  lookups of what the store holds, arrow batches, one transaction), and the
  same records flushed every 1,000 records (the gateway's periodic flush).
- ``per_row_insert``: the naive way, one ``INSERT ... VALUES`` per row, each its
  own transaction, for 2,000 of the same rows; scaled to rows/s.
- ``bare_arrow``: the same rows the store writes, already projected, inserted
  through arrow tables into the same schema in one transaction: the floor of
  duckdb's own cost, without the projection.

The files live in a temp directory inside the project (its disk, not tmpfs).
Prints ONE JSON line. Run from the project root:

    .venv/bin/python -m tests.bench.audit
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from core.models import OrderStatus, OrderType, Side, TakerOrMaker, TimeInForce  # noqa: E402
from gateway.audit import AuditStore  # noqa: E402
from gateway.audit_projection import TABLES, AuditProjector, Row  # noqa: E402
from gateway.engine_records import (  # noqa: E402
    BudgetPayload,
    CancelKind,
    CancelPayload,
    FillPayload,
    IntentPayload,
    OrderStatusPayload,
    ResultOutcome,
    ResultPayload,
    StatusSource,
    WalRecord,
)

RECORDS = 100_000
COMMIT_BATCH = 10
PERIODIC_FLUSH = 1_000
PER_ROW_ROWS = 2_000
ROUNDS = 3
D = Decimal


def make_records(count: int) -> list[WalRecord]:
    """Return ``count`` records of orders' lives, as the engine hands them to the audit sink."""
    records: list[WalRecord] = []
    n = 0
    while len(records) < count:
        n += 1
        cid = f"mm{n:014d}"
        at = 1_700_000_000_000_000_000 + n * 1_000_000
        side = Side.BUY if n % 2 else Side.SELL
        price = D("60000.0") + D(n % 500) / 10
        records.append(
            IntentPayload(
                client_order_id=cid,
                agent_id="mm",
                intent_id=f"i{n}",
                venue="binance",
                symbol="BTC/USDT" if n % 3 else "BTC/USDT:USDT",
                side=side,
                type=OrderType.LIMIT,
                amount=D("0.002"),
                price=price,
                time_in_force=TimeInForce.GTC,
                post_only=False,
                reduce_only=False,
                fingerprint=f"{n:024x}",
                reservation=D("120.12"),
                reference_price=D("60000.05"),
                probe=False,
                at_ns=at,
            ).to_record()
        )
        records.append(
            ResultPayload(
                client_order_id=cid,
                outcome=ResultOutcome.ACCEPTED,
                venue_order_id=f"v{n}",
                status=OrderStatus.OPEN,
                filled=D(0),
                at_ns=at + 1,
            ).to_record()
        )
        for leg in (1, 2):
            records.append(
                FillPayload(
                    client_order_id=cid,
                    agent_id="mm",
                    venue="binance",
                    symbol="BTC/USDT" if n % 3 else "BTC/USDT:USDT",
                    trade_id=f"t{n}-{leg}",
                    venue_order_id=f"v{n}",
                    side=side,
                    price=price,
                    amount=D("0.001"),
                    fee_cost=D("0.06"),
                    fee_currency="USDT",
                    taker_or_maker=TakerOrMaker.MAKER,
                    timestamp=at // 1_000_000,
                    at_ns=at + 1 + leg,
                ).to_record()
            )
        records.append(
            OrderStatusPayload(
                client_order_id=cid,
                source=StatusSource.QUERY,
                status=OrderStatus.CLOSED,
                venue_order_id=f"v{n}",
                filled=D("0.002"),
                at_ns=at + 4,
            ).to_record()
        )
        if n % 50 == 0:
            records.append(BudgetPayload(budgets={"mm": D(n)}, at_ns=at + 5).to_record())
        if n % 20 == 0:
            records.append(
                CancelPayload(
                    client_order_id=f"late{n}",
                    agent_id="mm",
                    intent_id=f"late{n}",
                    kind=CancelKind.TOMBSTONE,
                    at_ns=at + 6,
                ).to_record()
            )
    return records[:count]


def fresh_db(scratch: Path, name: str) -> Path:
    path = scratch / name
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)
    return path


# -- MEASUREMENTS -------------------------------------------------------------


def measure_store(
    scratch: Path, records: list[WalRecord], flush_every: int | None
) -> dict[str, float]:
    """Return add cost and flush rates of ``AuditStore`` over ``records``."""
    store = AuditStore(fresh_db(scratch, "store.duckdb"))
    add_s = flush_s = 0.0
    rows = 0
    try:
        for first in range(0, len(records), COMMIT_BATCH):
            batch = records[first : first + COMMIT_BATCH]
            started = time.perf_counter()
            store.add(first + 1, batch)
            add_s += time.perf_counter() - started
            if flush_every is not None and store.pending >= flush_every:
                started = time.perf_counter()
                store.flush()
                flush_s += time.perf_counter() - started
        started = time.perf_counter()
        store.flush()
        flush_s += time.perf_counter() - started
        rows = store.stats.rows_written
        assert store.last_seq == len(records)
    finally:
        store.close()
    return {
        "flush_s": flush_s,
        "records_per_s": len(records) / flush_s,
        "rows_per_s": rows / flush_s,
        "rows": rows,
        "add_us_per_call": add_s / (len(records) / COMMIT_BATCH) * 1e6,
    }


def projected_rows(records: list[WalRecord]) -> dict[str, list[Row]]:
    projector = AuditProjector()
    projector.fold_many(1, records)
    return {name: list(rows) for name, rows in projector.take().rows.items()}


def empty_schema(path: Path) -> duckdb.DuckDBPyConnection:
    """Return a connection to a new file with the store's tables (created by the store, empty)."""
    AuditStore(path).close()
    return duckdb.connect(str(path))


_ARROW = {
    "text": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "money": pa.decimal128(38, 18),
}


def measure_bare_arrow(scratch: Path, rows: dict[str, list[Row]]) -> float:
    """Return rows/s of inserting the projected rows through arrow in one transaction."""
    con = empty_schema(fresh_db(scratch, "bare.duckdb"))
    try:
        started = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        for name, table_rows in rows.items():
            if not table_rows:
                continue
            spec = TABLES[name]
            columns = zip(*table_rows, strict=True)
            arrays = [
                pa.array(v, _ARROW[c.kind]) for v, c in zip(columns, spec.columns, strict=True)
            ]
            batch = pa.Table.from_arrays(arrays, names=list(spec.names))
            con.register("bare_batch", batch)
            con.execute(f"INSERT INTO {name} SELECT * FROM bare_batch")
            con.unregister("bare_batch")
        con.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        con.close()
    return sum(len(r) for r in rows.values()) / elapsed


def measure_per_row(scratch: Path, rows: dict[str, list[Row]]) -> float:
    """Return rows/s of one INSERT per row (autocommit) for ``PER_ROW_ROWS`` rows of the mix."""
    total = sum(len(r) for r in rows.values())
    con = empty_schema(fresh_db(scratch, "per_row.duckdb"))
    inserted = 0
    try:
        started = time.perf_counter()
        for name, table_rows in rows.items():
            share = round(PER_ROW_ROWS * len(table_rows) / total)  # keep the table mix
            spec = TABLES[name]
            sql = f"INSERT INTO {name} VALUES ({', '.join('?' for _ in spec.columns)})"
            for row in table_rows[:share]:
                con.execute(sql, list(row))
                inserted += 1
        elapsed = time.perf_counter() - started
    finally:
        con.close()
    return inserted / elapsed


def main() -> None:
    records = make_records(RECORDS)
    rows = projected_rows(records)
    scratch = Path(tempfile.mkdtemp(prefix=".bench-audit-", dir=ROOT))
    one: list[dict[str, float]] = []
    periodic: list[dict[str, float]] = []
    bare: list[float] = []
    per_row: list[float] = []
    try:
        for _ in range(ROUNDS):
            one.append(measure_store(scratch, records, None))
            periodic.append(measure_store(scratch, records, PERIODIC_FLUSH))
            bare.append(measure_bare_arrow(scratch, rows))
            per_row.append(measure_per_row(scratch, rows))
        scratch_on_disk = os.stat(scratch).st_dev == os.stat(ROOT).st_dev
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    store_rows = median(one, "rows_per_s")
    bare_rows = statistics.median(bare)
    per_row_rows = statistics.median(per_row)
    result: dict[str, Any] = {
        "benchmark": "audit",
        "records": RECORDS,
        "rows_written": int(one[0]["rows"]),
        "rounds": ROUNDS,
        "scratch_on_project_disk": scratch_on_disk,
        "store_one_flush": {
            "flush_s": round(median(one, "flush_s"), 3),
            "records_per_s": round(median(one, "records_per_s")),
            "rows_per_s": round(store_rows),
        },
        "store_flush_every_1000": {
            "records_per_s": round(median(periodic, "records_per_s")),
            "rows_per_s": round(median(periodic, "rows_per_s")),
        },
        "add_us_per_call_of_10": round(median(one, "add_us_per_call"), 2),
        "bare_arrow_rows_per_s": round(bare_rows),
        "per_row_insert_rows_per_s": round(per_row_rows),
        "ratio_store_to_bare_arrow": round(store_rows / bare_rows, 3),
        "ratio_store_to_per_row_insert": round(store_rows / per_row_rows, 1),
        "ratio_periodic_store_to_bare_arrow": round(median(periodic, "rows_per_s") / bare_rows, 3),
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
