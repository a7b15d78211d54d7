"""Benchmark: gateway recovery time with checkpoints, beside a replay of the whole log, at >= 1M records.

The WAL is generated through the engine (submit, venue answer, fill, partial fill and
cancel, funding; ``tests.unit.gateway.checkpoint_support.Generator``) on the project's
disk, with the gateway's checkpointer taking checkpoints at its interval and archiving
the segments behind them, and terminal orders retired after an hour of the log's time
(their idempotency keys kept a week). A few orders are left in flight (PENDING, UNKNOWN).

Then each recovery runs in a fresh process, as a restarted gateway would: from building
the engine, the WAL and the ``GatewayService`` to ``recover()`` returning with the engine
accepting orders (replay, asking the venue about in-flight orders, fills, reconciliation,
marks), and one order submitted and accepted. ``recovery_s``: from the newest checkpoint
plus the WAL after it; ``replay_without_checkpoint_s``: the same code over the whole log
(archive + WAL) without checkpoints. Both end in the same engine snapshot (digest
compared). ``rss_mb``: the recovering process's resident memory after recovery.

Prints ONE JSON line. Run from the project root:

    .venv/bin/python -m tests.bench.recovery [--records 1000000] [--checkpoint-every 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.clock import NS_PER_S, SimulatedClock  # noqa: E402
from gateway.checkpoint import Checkpointer, CheckpointSettings, CheckpointStore  # noqa: E402
from gateway.disk import OsDisk  # noqa: E402
from gateway.engine import GatewayEngine  # noqa: E402
from gateway.engine_types import EngineConfig  # noqa: E402
from gateway.service import GatewayService  # noqa: E402
from gateway.wal import Wal  # noqa: E402
from tests.unit.gateway.checkpoint_support import LIMITS, AgreeingVenue, Generator  # noqa: E402
from tests.unit.gateway.engine_support import MARKETS, START_NS, VENUE, intent  # noqa: E402

GOAL_S = 2.0
CONFIG = EngineConfig(
    terminal_order_retention_ns=3600 * NS_PER_S,
    idempotency_retention_ns=7 * 24 * 3600 * NS_PER_S,
    trade_id_retention_ns=3600 * NS_PER_S,
)


def _rss_mb() -> float:
    """Resident memory now (Linux /proc), else the peak."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- GENERATING THE LOG -------------------------------------------------------------


def generate(scratch: Path, records: int, every: int) -> dict[str, Any]:
    wal_dir, archive_dir = scratch / "wal", scratch / "archive"
    clock = SimulatedClock(START_NS)
    engine = GatewayEngine(MARKETS, LIMITS, clock, config=CONFIG)
    wal = Wal(wal_dir)
    wal.recover()
    settings = CheckpointSettings(every_records=every, every_s=None, retire="archive")
    checkpoints = Checkpointer(
        CheckpointStore(OsDisk(wal_dir)),
        settings,
        clock,
        archive=OsDisk(archive_dir),
        timer=time.perf_counter,
    )
    generator = Generator(engine, clock, wal, checkpoints)
    started = time.perf_counter()
    generator.start()
    generator.run(records)
    generator.in_flight(6)  # 3 timeouts: fewer than the error burst that trips the breaker
    generator.commit()
    generate_s = time.perf_counter() - started
    snapshot = engine.snapshot()
    books = {
        "balances": {k: str(v) for k, v in engine.ledger.expected_balances(VENUE).items()},
        "positions": {k: str(v) for k, v in engine.ledger.expected_positions(VENUE).items()},
        "now_ns": clock.now_ns(),
    }
    (scratch / "books.json").write_text(json.dumps(books))
    return {
        "records": wal.committed_seq,
        "generate_s": round(generate_s, 2),
        "checkpoints_written": checkpoints.stats.written,
        "checkpoint_bytes": checkpoints.stats.last_bytes,
        "checkpoint_stall_ms": round(checkpoints.stats.last_stall_s * 1000, 2),
        "checkpoint_encode_ms": round(checkpoints.stats.last_encode_s * 1000, 1),
        "segments_archived": checkpoints.stats.segments_retired,
        "orders_in_table": len(snapshot.orders),
        "orders_retired": snapshot.retired_orders,
        "intents": snapshot.counters.get("intents", 0),
        "trade_ids_kept": len(engine.ledger.seen_trades),
        "perp_history_rows": sum(
            len(r) for m in engine.ledger.venues.values() for r in m.history.values()
        ),
    }


def whole_log(scratch: Path) -> Path:
    """A directory with every segment and no checkpoint: the archive's linked, the WAL's copied
    (a recovery appends to the WAL's last segment; the other recovery must not see that)."""
    whole = scratch / "whole"
    whole.mkdir()
    for path in sorted((scratch / "archive").glob("wal-*.log")):
        os.link(path, whole / path.name)
    for path in sorted((scratch / "wal").glob("wal-*.log")):
        shutil.copyfile(path, whole / path.name)
    return whole


# -- ONE RECOVERY, IN ITS OWN PROCESS ----------------------------------------------


async def _recover(wal_dir: Path, books_path: Path, checkpoints: bool) -> dict[str, Any]:
    books = json.loads(books_path.read_text())
    clock = SimulatedClock(books["now_ns"])
    venue = AgreeingVenue(
        None,
        MARKETS,
        books=(
            {k: Decimal(v) for k, v in books["balances"].items()},
            {k: Decimal(v) for k, v in books["positions"].items()},
        ),
    )
    started = time.perf_counter()
    checkpointer = None
    if checkpoints:
        settings = CheckpointSettings(every_records=None, every_s=None, retire="keep")
        checkpointer = Checkpointer(CheckpointStore(OsDisk(wal_dir)), settings, clock)
    service = GatewayService(
        engine=GatewayEngine(MARKETS, LIMITS, clock, config=CONFIG),
        wal=Wal(wal_dir),
        venues={VENUE: venue},
        clock=clock,
        checkpoints=checkpointer,
    )
    await service.recover()
    ready_s = time.perf_counter() - started
    result = await service.submit(intent("after-recovery", price="59990"))
    accepted_s = time.perf_counter() - started
    if not result.accepted:
        raise SystemExit(f"the recovered gateway refused an order: {result.denial}")
    snapshot = service.engine.snapshot()
    digest = hashlib.sha256(snapshot.model_dump_json().encode()).hexdigest()
    return {
        "recovery_s": round(ready_s, 3),
        "first_order_accepted_s": round(accepted_s, 3),
        "replayed": service.stats.recovery["replayed"],
        "checkpoint": service.stats.recovery["checkpoint"],
        "asked_venue": len(venue.queried),
        "rss_mb": round(_rss_mb(), 1),
        "snapshot_sha256": digest,
    }


def recover_in_child(wal_dir: Path, books: Path, checkpoints: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.bench.recovery", "--recover", str(wal_dir)]
    command += ["--books", str(books)] + ([] if checkpoints else ["--no-checkpoints"])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"recovery child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- THE BENCHMARK -------------------------------------------------------------------


def run(records: int, every: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix=".bench-recovery-", dir=ROOT))
    try:
        generated = generate(scratch, records, every)
        whole = whole_log(scratch)
        fast = recover_in_child(scratch / "wal", scratch / "books.json", True)
        full = recover_in_child(whole, scratch / "books.json", False)
        log_bytes = sum(p.stat().st_size for p in whole.iterdir())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "benchmark": "recovery",
        **generated,
        "log_bytes": log_bytes,
        "recovery_s": fast["recovery_s"],
        "first_order_accepted_s": fast["first_order_accepted_s"],
        "replayed_after_checkpoint": fast["replayed"],
        "checkpoint_seq": fast["checkpoint"],
        "rss_mb": fast["rss_mb"],
        "replay_without_checkpoint_s": full["recovery_s"],
        "rss_mb_without_checkpoint": full["rss_mb"],
        "ratio_recovery_to_full_replay": round(fast["recovery_s"] / full["recovery_s"], 3),
        "in_flight_asked": fast["asked_venue"],
        "same_snapshot": fast["snapshot_sha256"] == full["snapshot_sha256"],
        "goal_s": GOAL_S,
        "goal_met": fast["recovery_s"] < GOAL_S,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.recovery")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=100_000)
    parser.add_argument("--recover", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--books", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-checkpoints", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.recover is not None:
        result = asyncio.run(_recover(args.recover, args.books, not args.no_checkpoints))
    else:
        result = run(args.records, args.checkpoint_every)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
