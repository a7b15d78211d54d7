"""A checkpoint blocks the event loop only to capture the state; building and encoding it run later.

The capture copies what the engine changes in place (live orders, small books) and
shares the rest (retired keys' columns, orders copied as they ended), so its time does
not grow with the retired keys the encode has to write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from core.clock import NS_PER_S, SimulatedClock
from gateway.checkpoint import Checkpointer, CheckpointSettings, CheckpointStore
from gateway.disk import OsDisk
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineConfig
from gateway.wal import Wal
from tests.unit.gateway.checkpoint_support import LIMITS, Generator
from tests.unit.gateway.engine_support import MARKETS, START_NS

CONFIG = EngineConfig(
    terminal_order_retention_ns=60 * NS_PER_S,
    idempotency_retention_ns=7 * 24 * 3600 * NS_PER_S,
    trade_id_retention_ns=60 * NS_PER_S,
)


def _generated(tmp_path: Path, records: int) -> tuple[GatewayEngine, Wal, SimulatedClock]:
    clock = SimulatedClock(START_NS)
    engine = GatewayEngine(MARKETS, LIMITS, clock, config=CONFIG)
    wal = Wal(tmp_path)
    wal.recover()
    generator = Generator(engine, clock, wal)
    generator.start()
    generator.run(records)
    return engine, wal, clock


def _fastest(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def test_capture_when_many_retired_keys_then_shared_not_copied_and_far_cheaper_than_encode(
    tmp_path: Path,
) -> None:
    engine, _, _ = _generated(tmp_path, 8_000)
    assert len(engine.snapshot().orders) < 100 < engine.snapshot().retired_orders
    capture = engine.capture_state()
    assert capture.retired.cids is engine._retired._cids  # the columns, not a copy
    capture_s = _fastest(engine.capture_state)
    encode_s = _fastest(capture.encode)
    assert capture_s * 5 < encode_s, (capture_s, encode_s)


def test_checkpointer_when_taken_then_stall_measured_apart_from_the_encode(tmp_path: Path) -> None:
    engine, wal, clock = _generated(tmp_path, 4_000)
    settings = CheckpointSettings(every_records=None, every_s=None, retire="keep")
    checkpointer = Checkpointer(
        CheckpointStore(OsDisk(tmp_path)), settings, clock, timer=time.perf_counter
    )
    checkpointer.take(engine, wal)  # no loop: inline, both parts measured
    assert checkpointer.stats.written == 1
    assert 0 < checkpointer.stats.last_stall_s < checkpointer.stats.last_encode_s
