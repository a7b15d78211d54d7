"""The audit store on a real WAL written by the real engine: live rows == rows rebuilt from the WAL.

No Ray: the engine, the WAL and duckdb in one process, logged the way
``GatewayService._log`` does it (append and fsync, apply, then ``audit.add``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

import gateway.audit as audit_module
from core.clock import NS_PER_S, SimulatedClock
from core.errors import InvalidOrder, RequestTimeout
from core.models import Balance, Balances, Fee, OrderStatus, Side, Trade
from gateway.audit import AuditStore, main, read_table, rebuild
from gateway.audit_projection import TABLES, AuditValueError
from gateway.breaker import TripReason
from gateway.engine import GatewayEngine
from gateway.engine_records import WalRecord
from gateway.engine_types import Denied, Send, SubmitDecision, failure_from_error
from gateway.errors import WalCorruption
from gateway.wal import Wal
from risk.limits import RiskLimits
from tests.unit.gateway.engine_support import (
    MARKETS,
    MID,
    PERP,
    SPOT,
    START_NS,
    VENUE,
    intent,
    trade,
    venue_order,
)

D = Decimal
ROOT = Path(__file__).resolve().parents[2]


class Gateway:
    """The engine, a WAL on disk and an audit store, wired as the gateway service wires them."""

    def __init__(self, root: Path) -> None:
        self.wal_dir = root / "wal"
        self.db = root / "audit.duckdb"
        self.clock = SimulatedClock(START_NS)
        self.engine = GatewayEngine(MARKETS, RiskLimits(), self.clock)
        self.wal = Wal(self.wal_dir, segment_bytes=4096)  # several segments
        self.wal.recover()
        self.store = AuditStore(self.db)
        self.batches: list[tuple[int, Sequence[WalRecord]]] = []

    def log(self, records: Sequence[WalRecord]) -> None:
        if not records:
            return
        seqs = self.wal.append_many(records)
        self.engine.apply_all(records)
        self.store.add(seqs[0], records)
        self.batches.append((seqs[0], records))
        self.clock.advance(NS_PER_S)

    def restart_store(self) -> None:
        self.store.close()
        self.store = AuditStore(self.db)


def as_send(decision: SubmitDecision) -> Send:
    assert isinstance(decision, Send), decision
    return decision


def run_day(gw: Gateway, *, restart_at: int | None = None) -> None:
    """Drive a day of orders, fills, cancels, funding, budgets and breaker trips through ``gw``."""
    engine = gw.engine
    gw.log(engine.set_budgets({"mm": D(10_000), "arb": D(10_000)}).records)
    engine.mark({(VENUE, SPOT): MID, (VENUE, PERP): MID})
    usdt = Balance(currency="USDT", free=D(100_000), used=D(0), total=D(100_000))
    gw.log(engine.reconcile(VENUE, Balances(venue=VENUE, assets={"USDT": usdt}), []).records)
    engine.finish_recovery()

    # a1: accepted, then filled in two trades (a flush between them).
    a1 = as_send(engine.submit(intent("a1")))
    gw.log(a1.records)
    gw.log(engine.on_result(a1.client_order_id, venue_order(a1, venue_id="va1")).records)
    gw.log(engine.on_fill(trade(a1, "ta1", "0.004", venue_id="va1", fee="0.02")).records)
    gw.store.flush()
    gw.log(engine.on_fill(trade(a1, "ta2", "0.006", "59980", venue_id="va1", fee="0.03")).records)

    # b1: accepted, canceled by request.
    b1 = as_send(engine.submit(intent("b1", price="59000")))
    gw.log(b1.records)
    gw.log(engine.on_result(b1.client_order_id, venue_order(b1, venue_id="vb1")).records)
    gw.log(engine.cancel("mm", "b1").records)
    canceled = venue_order(b1, OrderStatus.CANCELED, venue_id="vb1")
    gw.log(engine.on_cancel_result(b1.client_order_id, canceled).records)
    if restart_at == 1:
        gw.restart_store()

    # c1 and d1 in one batch: c1's outcome is unknown (resolved by a query), d1 is rejected.
    batch = engine.submit_many([intent("c1", price="59500"), intent("d1", price="59400")])
    gw.log(batch.records)
    c1, d1 = (as_send(decision) for decision in batch.decisions)
    gw.log(engine.on_result(c1.client_order_id, failure_from_error(RequestTimeout("lost"))).records)
    gw.log(engine.on_result(d1.client_order_id, failure_from_error(InvalidOrder("tick"))).records)
    gw.store.flush()
    if restart_at == 3:
        gw.restart_store()  # c1 (unknown) is read back from the store, then moves on
    gw.log(engine.on_order_status(c1.client_order_id, venue_order(c1, venue_id="vc1")).records)
    gw.log(engine.on_fill(trade(c1, "tc1", "0.005", venue_id="vc1")).records)

    # p1: a perpetual for arb, filled, then a funding settlement.
    p1 = as_send(
        engine.submit(intent("p1", agent="arb", symbol=PERP, amount="0.01", price="60000.0"))
    )
    gw.log(p1.records)
    gw.log(engine.on_result(p1.client_order_id, venue_order(p1, venue_id="vp1")).records)
    gw.log(engine.on_fill(trade(p1, "tp1", "0.01", venue_id="vp1", fee="0.12")).records)
    gw.log(engine.on_funding(VENUE, PERP, D("0.0001"), MID, 1_700_000_000_000).records)
    if restart_at == 2:
        gw.restart_store()

    # A late fill of the canceled b1: booked, and b1 stays canceled.
    gw.log(engine.on_fill(trade(b1, "tb1", "0.002", venue_id="vb1")).records)

    # A cancel before its submit leaves a tombstone; the late submit is refused, not logged.
    gw.log(engine.cancel("mm", "late").records)
    assert isinstance(engine.submit(intent("late")), Denied)

    # A foreign trade: booked to the house, and the breaker trips (DRAINING).
    foreign = Trade(
        venue=VENUE,
        id="tx1",
        order_id="not-ours",
        client_order_id=None,
        symbol=SPOT,
        side=Side.SELL,
        price=D("60001"),
        amount=D("0.001"),
        cost=D("60.001"),
        fee=Fee(cost=D("0.01"), currency="USDT"),
        timestamp=1,
    )
    gw.log(engine.on_fill(foreign).records)
    gw.log(engine.set_budgets({"mm": D(12_000), "arb": D(8_000)}).records)
    gw.log(engine.trip(TripReason.MANUAL_HALT, "ops halt", "alice").records)
    gw.log(engine.reset("alice", "back").records)
    # Re-delivery of the last batch (a retried call) must change nothing.
    gw.store.add(*gw.batches[-1])


def all_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    return {table: read_table(db, table) for table in TABLES}


def last_seq(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        [(value,)] = con.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchall()
    finally:
        con.close()
    return int(value)


@pytest.mark.parametrize("restart_at", [None, 1, 2, 3])
def test_store_when_fed_live_then_rebuild_from_wal_gives_identical_rows(
    tmp_path: Path, restart_at: int | None
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw, restart_at=restart_at)
    gw.store.close()
    gw.wal.close()
    assert gw.store.stats.duplicates > 0

    rebuilt = tmp_path / "rebuilt.duckdb"
    counts = rebuild(gw.wal_dir, rebuilt)

    live, again = all_rows(gw.db), all_rows(rebuilt)
    assert again == live
    assert counts == {table: len(rows) for table, rows in live.items()}
    assert last_seq(gw.db) == last_seq(rebuilt) == gw.wal.committed_seq == counts["wal_records"]
    assert len(list(Path(gw.wal_dir).glob("wal-*.log"))) > 1
    for table in ("orders", "fills", "ledger", "breaker_history", "budgets", "reconciliations"):
        assert live[table], f"{table} is empty: the day did not exercise it"
    assert len(live["tombstones"]) == 1


def test_store_orders_when_projected_then_match_the_engine_view(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    run_day(gw, restart_at=1)
    gw.store.close()
    names = TABLES["orders"].names
    stored = {row[0]: dict(zip(names, row, strict=True)) for row in read_table(gw.db, "orders")}
    views = gw.engine.snapshot().orders
    assert sorted(stored) == sorted(v.client_order_id for v in views)
    states = {}
    for view in views:
        row = stored[view.client_order_id]
        states[view.intent_id] = row["state"]
        assert row["state"] == view.state.value
        assert row["filled"] == view.filled
        assert row["venue_order_id"] == view.venue_order_id
        assert row["avg_price"] == view.average_price
        assert row["trades"] == len(view.trade_ids)
        assert json.loads(row["fees"]) == {k: str(v.normalize()) for k, v in view.fees.items()}
    assert states == {
        "a1": "filled",
        "b1": "canceled",
        "c1": "partially_filled",
        "d1": "rejected",
        "p1": "filled",
    }


def test_store_ledger_when_projected_then_cash_flows_add_up_per_agent(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.close()
    con = duckdb.connect(str(gw.db), read_only=True)
    try:
        flows = dict(
            con.execute(
                "SELECT agent_id || ':' || asset || ':' || kind, sum(amount) FROM ledger "
                "GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        )
    finally:
        con.close()
    # a1: 0.004 @ 59990 + 0.006 @ 59980; c1: 0.005 @ 59500; b1 (late): 0.002 @ 59000
    spent = D("0.004") * 59990 + D("0.006") * 59980 + D("0.005") * 59500 + D("0.002") * 59000
    assert flows["mm:USDT:trade"] == -spent
    assert flows["mm:BTC:trade"] == D("0.017")
    assert flows["mm:USDT:fee"] == D("-0.05")
    assert flows["arb:USDT:fee"] == D("-0.12")
    assert flows["arb:USDT:funding"] == D("-0.06")  # long 0.01 at 60000 x 0.0001
    assert flows["_house:BTC:trade"] == D("-0.001")
    assert "arb:USDT:trade" not in flows  # a perpetual's trade moves no cash
    # The engine's books agree: an agent's cash is the sum of its flows (no perp P&L realized).
    for agent in ("mm", "arb"):
        cash = gw.engine.ledger.agents[agent].cash[(VENUE, "USDT")]
        assert sum(v for k, v in flows.items() if k.startswith(f"{agent}:USDT:")) == cash


def test_store_when_restarted_then_continues_from_meta_without_duplicates(tmp_path: Path) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.close()
    before = all_rows(gw.db)
    seq = last_seq(gw.db)

    again = AuditStore(gw.db)
    assert again.last_seq == seq
    for first_seq, records in gw.batches:  # everything delivered again after the restart
        again.add(first_seq, records)
    assert again.pending == 0 and again.flush() == 0
    assert again.stats.duplicates == seq and again.stats.added == 0
    gw.store = again
    gw.log(gw.engine.set_budgets({"mm": D(1)}).records)
    gw.store.add(*gw.batches[-1])
    assert (again.pending, again.gap) == (1, None)
    again.close()
    after = all_rows(gw.db)
    assert after["budgets"][: len(before["budgets"])] == before["budgets"]
    assert len(after["budgets"]) == len(before["budgets"]) + 1
    assert after["orders"] == before["orders"]
    assert last_seq(gw.db) == seq + 1


def test_store_when_a_batch_would_leave_a_hole_then_refused_until_caught_up(
    tmp_path: Path,
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.close()
    gw.store = AuditStore(gw.db)
    seq = gw.store.last_seq
    gw.wal.append_many(gw.engine.set_budgets({"mm": D(1)}).records)  # never reaches the store
    gw.log(gw.engine.set_budgets({"mm": D(2)}).records)
    assert gw.store.gap == (seq + 1, seq + 2)
    assert gw.store.flush() == 0 and gw.store.last_seq == seq

    gw.wal.close()
    assert gw.store.catch_up(Wal(gw.wal_dir).replay()) == seq + 2
    assert gw.store.gap is None
    assert [row[3] for row in gw.store.rows("budgets")[-2:]] == [D(1), D(2)]
    gw.store.close()
    assert all_rows(gw.db) == all_rows(_rebuilt(gw, tmp_path))


def test_flush_when_a_write_fails_midway_then_nothing_written_and_next_flush_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw, restart_at=2)
    real_insert = audit_module._insert

    def failing_insert(con: Any, spec: Any, rows: Any) -> None:
        if spec.name == "ledger":
            raise OSError("disk full")
        real_insert(con, spec, rows)

    pending, seq, before = gw.store.pending, gw.store.last_seq, gw.store.counts()
    assert pending > 0
    monkeypatch.setattr(audit_module, "_insert", failing_insert)
    with pytest.raises(OSError, match="disk full"):
        gw.store.flush()
    assert (gw.store.pending, gw.store.last_seq, gw.store.counts()) == (pending, seq, before)
    monkeypatch.setattr(audit_module, "_insert", real_insert)
    assert gw.store.flush() == pending
    gw.store.close()
    assert all_rows(gw.db) == all_rows(_rebuilt(gw, tmp_path))


def test_flush_when_money_does_not_fit_then_audit_value_error_and_store_unchanged(
    tmp_path: Path,
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.flush()
    seq = gw.store.last_seq
    gw.log(gw.engine.set_budgets({"mm": D("1E-19")}).records)
    with pytest.raises(AuditValueError, match=f"record {seq + 1} \\(BUDGET\\)"):
        gw.store.flush()
    assert (gw.store.last_seq, gw.store.pending) == (seq, 1)
    gw.store.close(flush=False)


def test_store_when_added_on_one_thread_and_flushed_on_another_then_same_rows(
    tmp_path: Path,
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.close()
    store = AuditStore(tmp_path / "threads.duckdb")
    done = threading.Event()

    def feed() -> None:
        for first_seq, records in gw.batches:
            store.add(first_seq, records)
            time.sleep(0.001)
        done.set()

    feeder = threading.Thread(target=feed)
    feeder.start()
    flushes = 0
    while not done.is_set():
        flushes += store.flush() > 0
    feeder.join()
    store.close()
    assert flushes > 1
    assert all_rows(tmp_path / "threads.duckdb") == all_rows(gw.db)


def _rebuilt(gw: Gateway, tmp_path: Path) -> Path:
    target = tmp_path / "rebuilt.duckdb"
    rebuild(gw.wal_dir, target)
    return target


def _corrupt_middle_record(wal_dir: Path) -> int:
    """Flip a payload byte of a record in the middle of the log; return its sequence."""
    records = list(Wal(wal_dir).replay())
    victim = records[len(records) // 2]
    segment = wal_dir / victim.segment
    data = bytearray(segment.read_bytes())
    data[victim.offset + 30] ^= 0xFF
    segment.write_bytes(bytes(data))
    return victim.seq


def test_rebuild_when_a_middle_record_is_corrupt_then_clear_error_and_no_file(
    tmp_path: Path,
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.close()
    gw.wal.close()
    seq = _corrupt_middle_record(gw.wal_dir)
    out = tmp_path / "out"
    out.mkdir()

    with pytest.raises(WalCorruption, match=f"sequence {seq}") as raised:
        rebuild(gw.wal_dir, out / "fresh.duckdb")
    assert "nothing was written" in "".join(raised.value.__notes__)
    assert list(out.iterdir()) == []

    before = all_rows(gw.db)
    with pytest.raises(WalCorruption):
        rebuild(gw.wal_dir, gw.db)  # an existing store stays as it was
    assert all_rows(gw.db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.duckdb", "out", "wal"]


def test_cli_when_rebuild_then_one_json_line_of_counts_and_error_exit_on_corruption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gw = Gateway(tmp_path)
    run_day(gw)
    gw.store.close()
    gw.wal.close()
    db = tmp_path / "cli.duckdb"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.audit",
            "rebuild",
            "--wal",
            str(gw.wal_dir),
            "--db",
            str(db),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["tables"] == {t: len(rows) for t, rows in all_rows(gw.db).items()}

    assert main(["dump", "--db", str(db), "--table", "budgets", "--limit", "1"]) == 0
    [dumped] = capsys.readouterr().out.splitlines()
    assert json.loads(dumped)["amount"] == "10000.000000000000000000"

    seq = _corrupt_middle_record(gw.wal_dir)
    assert main(["rebuild", "--wal", str(gw.wal_dir), "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "WalCorruption" in err and f"sequence {seq}" in err and "nothing was written" in err
    assert not (tmp_path / "x.duckdb").exists()
