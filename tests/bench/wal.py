"""Benchmark: the write-ahead log's durable records/s and replay time, each beside a bare baseline.

Group commit at 1, 10 and 100 records per fsync against a plain loop of
``os.write`` + ``os.fdatasync`` of the same bytes per sync on the same disk,
and replay of 100k records against a plain loop of ``orjson.loads`` over the
same payloads. The files live in a temp directory inside the project (the
project's disk, not tmpfs), so the fsync figures are honest. Prints ONE JSON
line. Run from the project root:

    .venv/bin/python -m tests.bench.wal
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from gateway.wal import RecordType, Wal, encode_payload  # noqa: E402
from gateway.wal_format import FrameReader, frame_record  # noqa: E402

ROUNDS = 3
FSYNCS = {1: 1500, 10: 600, 100: 150}  # fsyncs per round for each batch size
REPLAY_RECORDS = 100_000
PROTOTYPE_REPLAY_MS = 73.0
BARE_RECORD_BYTES = 200
_datasync = getattr(os, "fdatasync", os.fsync)


def intent_payload(n: int) -> dict[str, Any]:
    """Return an INTENT-like payload (≈200 bytes framed), Decimals included."""
    return {
        "client_order_id": f"mm01x{n:012d}",
        "agent_id": "market_maker",
        "venue": "binance",
        "symbol": "BTC/USDT:USDT",
        "side": "buy",
        "type": "limit",
        "amount": Decimal("0.002"),
        "price": Decimal("61234.50"),
        "reduce_only": False,
    }


# -- GROUP COMMIT -------------------------------------------------------------


def wal_rate(directory: Path, batch: int, fsyncs: int) -> float:
    """Return durable records/s through ``Wal`` committing ``batch`` records per fsync."""
    wal = Wal(directory)
    wal.recover()
    payloads = [intent_payload(n) for n in range(batch)]
    start = time.perf_counter()
    for _ in range(fsyncs):
        if batch == 1:
            wal.append_and_commit(RecordType.INTENT, payloads[0])
        else:
            wal.append_many([(RecordType.INTENT, payload) for payload in payloads])
    elapsed = time.perf_counter() - start
    wal.close()
    return batch * fsyncs / elapsed


def bare_rate(directory: Path, batch: int, fsyncs: int) -> float:
    """Return records/s of a plain loop: one os.write of ``batch`` × 200 bytes, one fdatasync."""
    chunk = b"x" * (BARE_RECORD_BYTES * batch)
    fd = os.open(directory / "bare.bin", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = time.perf_counter()
        for _ in range(fsyncs):
            os.write(fd, chunk)
            _datasync(fd)
        elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
    return batch * fsyncs / elapsed


def measure_commit(scratch: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for batch, fsyncs in FSYNCS.items():
        wal_rates: list[float] = []
        bare_rates: list[float] = []
        for round_index in range(ROUNDS):
            # Alternate the order so drift in the disk's state hits both alike.
            runs: list[tuple[list[float], Callable[[Path, int, int], float]]] = [
                (wal_rates, wal_rate),
                (bare_rates, bare_rate),
            ]
            for rates, measure in runs if round_index % 2 == 0 else runs[::-1]:
                directory = scratch / f"commit-{batch}-{round_index}-{measure.__name__}"
                directory.mkdir()
                rates.append(measure(directory, batch, fsyncs))
                shutil.rmtree(directory)
        wal_median = statistics.median(wal_rates)
        bare_median = statistics.median(bare_rates)
        results[f"per_fsync_{batch}"] = {
            "wal_records_per_s": round(wal_median),
            "bare_records_per_s": round(bare_median),
            "ratio_wal_to_bare": round(wal_median / bare_median, 3),
        }
    return results


# -- REPLAY -------------------------------------------------------------------


def measure_replay(scratch: Path) -> dict[str, Any]:
    directory = scratch / "replay"
    wal = Wal(directory)
    wal.recover()
    for first in range(0, REPLAY_RECORDS, 1000):
        wal.append_many(
            [(RecordType.INTENT, intent_payload(n)) for n in range(first, first + 1000)]
        )
    wal.close()
    log_bytes = sum(path.stat().st_size for path in directory.iterdir())

    replay_s: list[float] = []
    frames_s: list[float] = []
    bare_s: list[float] = []
    payloads: list[bytes] = []
    for _ in range(ROUNDS):
        reader = Wal(directory)
        start = time.perf_counter()
        count = sum(1 for _ in reader.replay())
        replay_s.append(time.perf_counter() - start)
        assert count == REPLAY_RECORDS, count

        segment = next(directory.glob("wal-*.log"))
        data = segment.read_bytes()
        start = time.perf_counter()
        count = sum(1 for _ in FrameReader(data, str(segment), last_segment=True))
        frames_s.append(time.perf_counter() - start)
        assert count == REPLAY_RECORDS, count
        payloads = [payload for _, _, _, payload in FrameReader(data, "", last_segment=True)]

        # The irreducible part: parse every payload once, no framing, no checks.
        start = time.perf_counter()
        loads = orjson.loads
        for payload in payloads:
            loads(payload)
        bare_s.append(time.perf_counter() - start)

    replay = statistics.median(replay_s)
    return {
        "records": REPLAY_RECORDS,
        "log_bytes": log_bytes,
        "replay_ms": round(replay * 1000, 1),
        "replay_records_per_s": round(REPLAY_RECORDS / replay),
        "frames_and_checksums_only_ms": round(statistics.median(frames_s) * 1000, 1),
        "bare_orjson_loads_ms": round(statistics.median(bare_s) * 1000, 1),
        "ratio_replay_to_bare_loads": round(replay / statistics.median(bare_s), 2),
        "prototype_goal_ms": PROTOTYPE_REPLAY_MS,
        "ratio_replay_to_prototype": round(replay * 1000 / PROTOTYPE_REPLAY_MS, 2),
    }


def measure_append_cpu() -> dict[str, Any]:
    """Return the CPU cost of encoding and framing one record (no I/O)."""
    payload = intent_payload(1)
    count = 20_000
    start = time.perf_counter()
    for seq in range(1, count + 1):
        frame_record(seq, RecordType.INTENT, encode_payload(payload))
    elapsed = time.perf_counter() - start
    return {
        "encode_and_frame_us": round(elapsed / count * 1e6, 2),
        "record_bytes": len(frame_record(1, RecordType.INTENT, encode_payload(payload))),
    }


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix=".bench-wal-", dir=ROOT))
    try:
        result = {
            "benchmark": "wal",
            "scratch_on_project_disk": os.stat(scratch).st_dev == os.stat(ROOT).st_dev,
            "rounds": ROUNDS,
            "append": measure_append_cpu(),
            "commit": measure_commit(scratch),
            "replay": measure_replay(scratch),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
