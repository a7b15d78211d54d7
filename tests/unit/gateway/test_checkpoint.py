"""Checkpoint files, recovery from them with its fallback, and the segments retired behind them."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from core.clock import NS_PER_S, SimulatedClock
from gateway.audit import rebuild
from gateway.checkpoint import (
    KEEP,
    CheckpointCorrupt,
    Checkpointer,
    CheckpointSettings,
    CheckpointStore,
    checkpoint_name,
    decode_checkpoint,
    encode_checkpoint,
    replay_with_archive,
    restore_latest,
)
from gateway.disk import OsDisk
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineConfig
from gateway.errors import WalSequenceGap
from gateway.service import GatewayService
from gateway.wal import Wal
from tests.unit.gateway.checkpoint_support import LIMITS, AgreeingVenue, Generator
from tests.unit.gateway.engine_support import MARKETS, START_NS, VENUE

SEGMENT_BYTES = 64 * 1024


# -- THE FILE -------------------------------------------------------------------


def test_decode_when_encoded_then_same_state_and_sequence() -> None:
    state = {"version": 1, "orders": [["a", "1.50"]], "n": None}
    assert decode_checkpoint(encode_checkpoint(42, state), "f") == (42, state)


@pytest.mark.parametrize("where", ["body", "header_seq", "magic"])
def test_decode_when_one_byte_flipped_then_corrupt_naming_the_file(where: str) -> None:
    data = bytearray(encode_checkpoint(42, {"version": 1, "x": "1.5"}))
    if where == "body":
        data[-3] ^= 0x01
    elif where == "header_seq":
        at = data.index(b"42")
        data[at] = ord("5")
    else:
        data[0] ^= 0xFF
    with pytest.raises(CheckpointCorrupt) as caught:
        decode_checkpoint(bytes(data), "/x/engine-checkpoint-1")
    assert caught.value.path == "/x/engine-checkpoint-1"


def test_decode_when_file_version_unknown_then_corrupt() -> None:
    data = encode_checkpoint(7, {"version": 1}).replace(b'"version":1', b'"version":2', 1)
    with pytest.raises(CheckpointCorrupt, match="version 2"):
        decode_checkpoint(data, "f")


def test_store_when_third_checkpoint_written_then_two_newest_kept(tmp_path: Path) -> None:
    store = CheckpointStore(OsDisk(tmp_path))
    for seq in (10, 20, 30):
        store.write(seq, {"version": 1, "seq": seq})
    assert store.sequences() == [20, 30]
    assert store.retire_behind() == 20
    assert store.read(30) == {"version": 1, "seq": 30}
    assert KEEP == 2


# -- A GATEWAY THAT CHECKPOINTS -------------------------------------------------


class Rig:
    """A WAL on a real disk written through the engine, with checkpoints and retired segments."""

    def __init__(
        self,
        root: Path,
        *,
        retire: str = "archive",
        every: int = 2_000,
        config: EngineConfig | None = None,
    ) -> None:
        self.root = root
        self.wal_dir = root / "wal"
        self.archive_dir = root / "archive"
        self.clock = SimulatedClock(START_NS)
        self.settings = CheckpointSettings.model_validate(
            {"every_records": every, "every_s": None, "retire": retire}
        )
        self.config = config
        self.engine = GatewayEngine(MARKETS, LIMITS, self.clock, config=config)
        self.wal = Wal(self.wal_dir, segment_bytes=SEGMENT_BYTES)
        self.wal.recover()
        self.checkpoints = self.checkpointer()
        self.generator = Generator(self.engine, self.clock, self.wal, self.checkpoints)
        self.generator.start()

    def checkpointer(self) -> Checkpointer:
        archive = OsDisk(self.archive_dir) if self.settings.retire == "archive" else None
        store = CheckpointStore(OsDisk(self.wal_dir))
        return Checkpointer(store, self.settings, self.clock, archive=archive)

    def abandon(self) -> None:
        """The process dies: nothing closed, nothing flushed beyond what was committed."""
        self.wal.commit()

    def service(self, *, checkpoints: bool = True, wal_dir: Path | None = None) -> GatewayService:
        engine = GatewayEngine(MARKETS, LIMITS, self.clock, config=self.config)
        return GatewayService(
            engine=engine,
            wal=Wal(wal_dir or self.wal_dir, segment_bytes=SEGMENT_BYTES),
            venues={VENUE: AgreeingVenue(self.engine, MARKETS)},
            clock=self.clock,
            checkpoints=self.checkpointer() if checkpoints else None,
        )

    def whole_log_copy(self) -> Path:
        """A WAL directory with every segment (archive + WAL) and no checkpoint."""
        copy = self.root / "whole"
        copy.mkdir()
        for source in (self.archive_dir, self.wal_dir):
            if source.is_dir():
                for path in source.glob("wal-*.log"):
                    shutil.copy(path, copy / path.name)
        return copy


def _recover(service: GatewayService) -> None:
    asyncio.run(service.recover())


def test_recover_when_checkpointed_then_equals_full_replay_and_reads_only_the_tail(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.generator.run(9_000)
    in_flight = rig.generator.in_flight(4)
    rig.abandon()
    total = rig.wal.committed_seq
    assert rig.checkpoints.stats.written >= 3
    assert rig.checkpoints.stats.segments_retired > 0

    full = rig.service(checkpoints=False, wal_dir=rig.whole_log_copy())
    fast = rig.service()
    _recover(fast)
    _recover(full)

    assert fast.engine.ready and full.engine.ready
    assert fast.engine.snapshot() == full.engine.snapshot()
    assert fast.stats.recovery["checkpoint"] == CheckpointStore(OsDisk(rig.wal_dir)).sequences()[-1]
    assert fast.stats.recovery["replayed"] < total // 2 < full.stats.recovery["replayed"]
    venue = fast.venues[VENUE]
    assert isinstance(venue, AgreeingVenue)
    assert {s.client_order_id for s in in_flight} <= set(venue.queried)  # asked, never resent


def test_recover_when_newest_checkpoint_corrupt_then_falls_back_to_previous(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.generator.run(9_000)
    rig.abandon()
    older, newest = CheckpointStore(OsDisk(rig.wal_dir)).sequences()
    path = rig.wal_dir / checkpoint_name(newest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))

    full = rig.service(checkpoints=False, wal_dir=rig.whole_log_copy())
    fast = rig.service()
    _recover(fast)
    _recover(full)
    assert fast.stats.recovery["checkpoint"] == older
    assert "checksum mismatch" in fast.stats.recovery["checkpoints_skipped"][0]
    assert fast.engine.snapshot() == full.engine.snapshot()


def test_recover_when_checkpoints_corrupt_and_log_whole_then_full_replay(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, retire="keep")
    rig.generator.run(5_000)
    rig.abandon()
    for seq in CheckpointStore(OsDisk(rig.wal_dir)).sequences():
        (rig.wal_dir / checkpoint_name(seq)).write_bytes(b"SWCK {}\n")
    fast = rig.service()
    _recover(fast)
    assert fast.stats.recovery["checkpoint"] == 0
    assert len(fast.stats.recovery["checkpoints_skipped"]) == KEEP
    assert fast.stats.recovery["replayed"] == rig.wal.committed_seq
    assert fast.engine.ready


def test_recover_when_both_checkpoints_corrupt_and_log_retired_then_halts_never_less(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, retire="delete")
    rig.generator.run(9_000)
    rig.abandon()
    assert not rig.archive_dir.exists()
    for seq in CheckpointStore(OsDisk(rig.wal_dir)).sequences():
        (rig.wal_dir / checkpoint_name(seq)).write_bytes(b"garbage")
    fast = rig.service()
    with pytest.raises(WalSequenceGap, match="expected 1"):
        _recover(fast)
    assert not fast.engine.ready


def test_recover_when_checkpoint_of_another_state_version_then_skipped(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.generator.run(5_000)
    rig.abandon()
    store = CheckpointStore(OsDisk(rig.wal_dir))
    newest = store.sequences()[-1]
    state = store.read(newest)
    state["version"] = 99
    store.write(newest + 1, state)  # a newer file this code cannot read (and rig's log has it)
    engine = GatewayEngine(MARKETS, LIMITS, rig.clock)
    restored = restore_latest(engine, store)
    assert restored.upto_seq == newest
    assert "version" in restored.skipped[0]


# -- OFF THE ORDER PATH, AND WHAT IS RETIRED ------------------------------------


def test_checkpointer_when_loop_runs_then_writes_in_another_thread(tmp_path: Path) -> None:
    rig = Rig(tmp_path, every=10**9)
    rig.generator.run(500)
    threads: list[int] = []
    store = rig.checkpoints.store
    original = store.write

    def write(upto: int, state: Any) -> int:
        threads.append(threading.get_ident())
        return original(upto, state)

    store.write = write  # type: ignore[method-assign,assignment]

    async def take() -> None:
        rig.checkpoints.take(rig.engine, rig.wal)
        assert rig.checkpoints.busy  # the loop went on: the write is still out
        await rig.checkpoints.drain()

    asyncio.run(take())
    assert threads and threads[0] != threading.get_ident()
    assert store.sequences() == [rig.wal.committed_seq]


def test_checkpointer_when_seconds_pass_then_due_without_record_count(tmp_path: Path) -> None:
    clock = SimulatedClock(START_NS)
    settings = CheckpointSettings(every_records=None, every_s=60, retire="keep")
    checkpointer = Checkpointer(CheckpointStore(OsDisk(tmp_path)), settings, clock)
    engine = GatewayEngine(MARKETS, LIMITS, clock)
    wal = Wal(tmp_path)
    wal.recover()
    checkpointer.note(1, engine, wal)
    assert checkpointer.stats.written == 0
    clock.advance(61 * NS_PER_S)
    checkpointer.note(1, engine, wal)
    assert checkpointer.stats.written == 1


def test_retire_when_archive_then_audit_rebuild_reads_archive_and_wal(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.generator.run(9_000)
    rig.abandon()
    archived = sorted(p.name for p in rig.archive_dir.glob("wal-*.log"))
    assert archived and not (rig.wal_dir / archived[0]).exists()
    with pytest.raises(WalSequenceGap, match="expected 1"):
        rebuild(rig.wal_dir, tmp_path / "audit.duckdb")
    counts = rebuild(rig.wal_dir, tmp_path / "audit.duckdb", archive_dir=rig.archive_dir)
    assert counts["wal_records"] == rig.wal.committed_seq
    seqs = [r.seq for r in replay_with_archive(rig.wal_dir, rig.archive_dir)]
    assert seqs == list(range(1, rig.wal.committed_seq + 1))


def test_retire_when_delete_then_segments_gone_and_recovery_still_whole(tmp_path: Path) -> None:
    rig = Rig(tmp_path, retire="delete")
    rig.generator.run(9_000)
    rig.abandon()
    assert not rig.archive_dir.exists()
    assert "wal-00000001.log" not in {p.name for p in rig.wal_dir.iterdir()}
    fast = rig.service()
    _recover(fast)
    assert fast.engine.ready
    assert fast.engine.ledger.conservation_errors() == []


def test_retention_when_gateway_retires_orders_then_recovery_equal_and_keys_kept(
    tmp_path: Path,
) -> None:
    config = EngineConfig(
        terminal_order_retention_ns=600 * NS_PER_S, idempotency_retention_ns=3_600 * NS_PER_S
    )
    rig = Rig(tmp_path, config=config)
    rig.generator.run(9_000)
    rig.abandon()
    live = rig.engine.snapshot()
    assert live.retired_orders > 0
    assert len(live.orders) < live.counters["intents"] / 2
    full = rig.service(checkpoints=False, wal_dir=rig.whole_log_copy())
    fast = rig.service()
    _recover(fast)
    _recover(full)
    assert fast.stats.recovery["checkpoint"] > 0
    assert fast.engine.snapshot() == full.engine.snapshot()
    assert fast.engine.snapshot().retired_orders == live.retired_orders
