from __future__ import annotations

import logging
import os
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from core.errors import GatewayNotReady, HaltError, InvalidValue
from gateway.disk import OsDisk, SimulatedCrash, SimulatedDisk
from gateway.errors import WalCorruption, WalNotRecovered, WalSequenceGap, WalWriteFailed
from gateway.wal import RecordType, Wal, segment_name
from gateway.wal_format import HEADER_SIZE, encode_payload, frame_record
from tests.unit.gateway.support import exact, intent, recovered

INTENT = RecordType.INTENT
SEG1 = segment_name(1)


# -- PAYLOAD ROUND TRIP -------------------------------------------------------

PAYLOADS = [
    {},
    {"amount": Decimal("0.00000001"), "price": Decimal("65000.10")},
    {"trailing_zeros": Decimal("1.000"), "negative_zero": Decimal("-0"), "exp": Decimal("1E+3")},
    {"huge": Decimal("123456789012345678901234567890.123456789012345678901234567890")},
    {"tiny": Decimal("1E-30"), "negative": Decimal("-42.5")},
    {"nested": {"legs": [{"qty": Decimal("2.50")}, {"qty": Decimal("0")}]}, "ok": True},
    {"none": None, "false": False, "int": -(2**63), "big": 2**64 - 1, "text": "€ ünïcode \n"},
    {"list": [1, "a", None, [Decimal("3.3")]], "empty": [], "emptyobj": {}},
    {"$dec": "1.5", "looks_like_paths": [["$dec"]], "text": "0.1"},
    {"0": [[Decimal("1"), "1"]], "": {"": Decimal("-1E-7")}},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_when_written_and_replayed_then_round_trips_exactly(
    payload: dict[str, Any], tmp_path: Path
) -> None:
    wal, _ = recovered(OsDisk(tmp_path))
    wal.append_and_commit(RecordType.FILL, payload)
    wal.close()
    _, records = recovered(OsDisk(tmp_path))
    assert [r.type for r in records] == [RecordType.FILL]
    assert exact(records[0].payload) == exact(payload)


def test_append_many_when_one_payload_bad_then_nothing_buffered() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    with pytest.raises(InvalidValue):
        wal.append_many([(INTENT, intent(1)), (INTENT, {"bad": 1.5})])
    assert wal.next_seq == 1
    assert wal.commit() == 0


def test_replay_when_payload_unreadable_behind_good_checksum_then_corruption() -> None:
    disk = SimulatedDisk()
    write_segments(disk, {1: [1]})
    handle = disk.open(SEG1)
    disk.append(handle, frame_record(2, INTENT, b"[1, 2]") + frame_record(3, INTENT, b"{}"))
    disk.fsync(handle)
    with pytest.raises(WalCorruption, match="unreadable payload") as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.sequence == 2


# -- GROUP COMMIT -------------------------------------------------------------


def test_commit_when_records_appended_then_one_fsync_makes_all_durable() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    seqs = [wal.append(INTENT, intent(n)) for n in range(3)]
    fsyncs = disk.fsyncs
    assert wal.commit() == 3
    assert seqs == [1, 2, 3]
    assert disk.fsyncs == fsyncs + 1
    disk.power_off()
    disk.crash()
    _, records = recovered(disk)
    assert [r.payload["n"] for r in records] == [0, 1, 2]


def test_crash_when_records_appended_but_not_committed_then_lost() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_and_commit(INTENT, intent(0))
    wal.append(INTENT, intent(1))
    wal.append(INTENT, intent(2))
    disk.power_off()
    disk.crash(keep_bytes=10_000)
    wal, records = recovered(disk)
    assert [r.seq for r in records] == [1]
    assert wal.next_seq == 2


def test_append_many_when_batch_then_one_fsync_and_sequences_returned() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_and_commit(INTENT, intent(0))
    fsyncs = disk.fsyncs
    assert wal.append_many([(RecordType.FILL, intent(n)) for n in range(1, 101)]) == list(
        range(2, 102)
    )
    assert disk.fsyncs == fsyncs + 1
    assert wal.committed_seq == 101


def test_commit_when_nothing_appended_then_no_fsync() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    assert wal.commit() == 0
    assert disk.fsyncs == 0
    assert disk.listdir() == []


def test_append_when_not_replayed_then_wal_not_recovered() -> None:
    wal = Wal("unused", disk=SimulatedDisk())
    with pytest.raises(WalNotRecovered) as caught:
        wal.append(INTENT, intent(0))
    assert isinstance(caught.value, GatewayNotReady)


def test_append_when_replay_stopped_early_then_still_not_recovered() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(3)])
    reader = Wal("unused", disk=disk)
    next(reader.replay())
    with pytest.raises(WalNotRecovered):
        reader.append(INTENT, intent(9))


def test_commit_when_fsync_fails_then_wal_write_failed_and_log_refuses_more() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_and_commit(INTENT, intent(0))
    wal.append(INTENT, intent(1))
    disk.fail_next_fsync()
    with pytest.raises(WalWriteFailed) as caught:
        wal.commit()
    assert isinstance(caught.value, HaltError)
    assert SEG1 in str(caught.value)
    with pytest.raises(WalWriteFailed):
        wal.append(INTENT, intent(2))
    with pytest.raises(WalWriteFailed):
        wal.replay()
    disk.power_off()
    disk.crash()
    _, records = recovered(disk)
    assert [r.seq for r in records] == [1]


def test_replay_when_reopened_then_sequence_continues() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(5)])
    wal.close()
    wal, records = recovered(disk)
    assert wal.next_seq == 6
    assert wal.append_and_commit(RecordType.RESULT, {"status": "accepted"}) == 6
    _, records = recovered(disk)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]


# -- TORN TAIL ----------------------------------------------------------------


def write_then_crash_in_commit(
    batch: int, keep_bytes: int, *, segment_bytes: int = 1 << 20
) -> tuple[SimulatedDisk, int, int]:
    """Commit 3 records, crash inside the commit of ``batch`` more; return disk, sizes."""
    disk = SimulatedDisk()
    wal, _ = recovered(disk, segment_bytes=segment_bytes)
    wal.append_many([(INTENT, intent(n)) for n in range(3)])
    durable = len(disk.read(SEG1))
    for n in range(3, 3 + batch):
        wal.append(INTENT, intent(n))
    disk.crash_at_next_fsync()
    with pytest.raises(SimulatedCrash):
        wal.commit()
    unsynced = disk.unsynced_bytes(SEG1)
    disk.crash(keep_bytes=keep_bytes)
    return disk, durable, unsynced


def test_replay_when_last_record_torn_then_truncated_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = len(frame_record(4, INTENT, encode_payload(intent(3))))
    for kept in range(frame + 1):
        disk, durable, unsynced = write_then_crash_in_commit(1, kept)
        assert unsynced == frame
        with caplog.at_level(logging.WARNING, logger="gateway.wal"):
            caplog.clear()
            wal, records = recovered(disk)
        report = wal.report
        assert report is not None
        if kept == frame:  # written completely though unsynced: a crash may keep it
            assert [r.seq for r in records] == [1, 2, 3, 4]
            assert report.torn_bytes == 0
        else:
            assert [r.seq for r in records] == [1, 2, 3], kept
            assert report.torn_bytes == kept
            assert len(disk.read(SEG1)) == durable
            if kept:
                assert report.torn_segment == SEG1
                assert report.torn_offset == durable
                assert f"torn tail of {kept} bytes" in caplog.text
        assert report.last_seq == len(records)
        # Appending after recovery continues right after the last whole record.
        assert wal.append_and_commit(INTENT, {"after": kept}) == len(records) + 1
        _, again = recovered(disk)
        assert again[-1].payload == {"after": kept}


def test_replay_when_batch_torn_then_keeps_exactly_the_whole_records_before_the_tear() -> None:
    frames = [len(frame_record(n + 1, INTENT, encode_payload(intent(n)))) for n in range(3, 6)]
    ends = [sum(frames[: i + 1]) for i in range(len(frames))]
    for kept in range(sum(frames) + 1):
        disk, _, _ = write_then_crash_in_commit(3, kept)
        wal, records = recovered(disk)
        whole = sum(1 for end in ends if end <= kept)
        assert [r.seq for r in records] == list(range(1, 4 + whole))
        assert [r.payload["n"] for r in records] == list(range(3 + whole))
        assert wal.report is not None
        assert wal.report.torn_bytes == kept - (ends[whole - 1] if whole else 0)


def _rewrite(disk: SimulatedDisk, name: str, data: bytes) -> None:
    disk.truncate(name, 0)
    handle = disk.open(name)
    disk.append(handle, data)
    disk.fsync(handle)
    disk.close(handle)


def test_replay_when_tail_is_zeros_then_halts_and_nothing_is_cut() -> None:
    # Zeros the size of a header or more may hide committed records: not a torn tail.
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(2)])
    size = len(disk.read(SEG1))
    disk.extend_with_zeros(SEG1, 4096)
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.offset == size
    assert "4096 zero bytes to the end" in str(caught.value)
    assert len(disk.read(SEG1)) == size + 4096  # nothing cut


def test_replay_when_zeros_shorter_than_a_header_then_cut_as_torn() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(2)])
    size = len(disk.read(SEG1))
    disk.extend_with_zeros(SEG1, HEADER_SIZE - 1)
    wal, records = recovered(disk)
    assert [r.seq for r in records] == [1, 2]
    assert wal.report is not None and wal.report.torn_bytes == HEADER_SIZE - 1
    assert len(disk.read(SEG1)) == size


def test_replay_when_middle_records_zeroed_to_the_end_then_halts_keeping_every_byte() -> None:
    # The case: zeros from a middle record to the end of the last segment were cut
    # as a torn tail, dropping committed records with only a warning.
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    for n in range(8):
        wal.append_and_commit(INTENT, intent(n))
    offsets = [r.offset for r in Wal("unused", disk=disk).replay()]
    data = bytearray(disk.read(SEG1))
    data[offsets[5] :] = bytes(len(data) - offsets[5])
    _rewrite(disk, SEG1, bytes(data))
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.offset == offsets[5]
    assert disk.read(SEG1) == bytes(data)


def test_replay_when_any_byte_of_a_complete_last_frame_flips_then_halts_nothing_cut() -> None:
    # Byte by byte: a frame written whole and damaged is corruption, never a torn tail.
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(3)])
    offsets = [r.offset for r in Wal("unused", disk=disk).replay()]
    clean = disk.read(SEG1)
    for position in range(offsets[2], len(clean)):
        disk.corrupt(SEG1, position, xor=0x01)
        with pytest.raises(WalCorruption) as caught:
            list(Wal("unused", disk=disk).replay())
        assert caught.value.offset == offsets[2], position
        assert len(disk.read(SEG1)) == len(clean), position
        disk.corrupt(SEG1, position, xor=0x01)  # flip it back
    assert disk.read(SEG1) == clean


def test_replay_when_last_frame_cut_at_every_length_then_only_that_frame_is_cut() -> None:
    # Byte by byte: every prefix of the last frame is one incomplete frame, the only tear.
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(3)])
    offsets = [r.offset for r in Wal("unused", disk=disk).replay()]
    clean = disk.read(SEG1)
    for length in range(offsets[2] + 1, len(clean)):
        _rewrite(disk, SEG1, clean[:length])
        wal, records = recovered(disk)
        assert [r.seq for r in records] == [1, 2], length
        assert wal.report is not None and wal.report.torn_bytes == length - offsets[2]
        assert len(disk.read(SEG1)) == offsets[2]


def test_replay_when_torn_tail_on_real_disk_then_truncated(tmp_path: Path) -> None:
    wal, _ = recovered(OsDisk(tmp_path))
    wal.append_many([(INTENT, intent(n)) for n in range(3)])
    wal.close()
    path = tmp_path / SEG1
    size = path.stat().st_size
    partial = frame_record(4, INTENT, encode_payload(intent(3)))[:-7]
    with path.open("ab") as file:
        file.write(partial)
    wal, records = recovered(OsDisk(tmp_path))
    assert [r.seq for r in records] == [1, 2, 3]
    assert path.stat().st_size == size
    assert wal.report is not None and wal.report.torn_bytes == len(partial)


def test_replay_when_run_twice_then_equals_running_once() -> None:
    disk, _, _ = write_then_crash_in_commit(2, 50)
    first_wal, first = recovered(disk)
    after_first = disk.read(SEG1)
    second_wal, second = recovered(disk)
    assert second == first
    assert disk.read(SEG1) == after_first
    assert first_wal.report is not None and first_wal.report.torn_bytes == 50
    assert second_wal.report is not None and second_wal.report.torn_bytes == 0
    assert list(second_wal.replay()) == first  # the same instance, again


# -- CORRUPTION ---------------------------------------------------------------


def three_records(disk: SimulatedDisk) -> list[int]:
    wal, _ = recovered(disk)
    for n in range(3):
        wal.append_and_commit(INTENT, intent(n))
    records = list(Wal("unused", disk=disk).replay())
    return [r.offset for r in records]


def test_replay_when_middle_record_corrupt_then_wal_corruption_names_segment() -> None:
    disk = SimulatedDisk(directory="/var/swarm/wal")
    offsets = three_records(disk)
    disk.corrupt(SEG1, offsets[1] + HEADER_SIZE + 3)
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    error = caught.value
    assert error.path == f"/var/swarm/wal/{SEG1}"
    assert error.offset == offsets[1]
    assert error.sequence == 2
    assert f"/var/swarm/wal/{SEG1} at byte {offsets[1]} (sequence 2)" in str(error)
    assert isinstance(error, HaltError)


@pytest.mark.parametrize("field_offset", [0, 4, 8, 12, 13, 16, 18, 19, 20, 27])
def test_replay_when_middle_header_corrupt_then_corruption_not_torn_tail(
    field_offset: int,
) -> None:
    """A flipped length, sequence or magic in the middle must never look like a torn tail."""
    disk = SimulatedDisk()
    offsets = three_records(disk)
    before = disk.read(SEG1)
    disk.corrupt(SEG1, offsets[1] + field_offset, xor=0x40)
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.offset == offsets[1]
    assert len(disk.read(SEG1)) == len(before)  # nothing truncated


def test_replay_when_earlier_segment_tail_cut_then_corruption() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk, segment_bytes=1)
    for n in range(3):
        wal.append_and_commit(INTENT, intent(n))
    assert disk.listdir() == [segment_name(i) for i in (1, 2, 3)]
    disk.truncate(segment_name(2), 40)
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.path.endswith(segment_name(2))
    assert caught.value.offset == 0


def write_segments(disk: SimulatedDisk, layout: dict[int, list[int]]) -> None:
    for index, seqs in layout.items():
        handle = disk.open(segment_name(index))
        for seq in seqs:
            disk.append(handle, frame_record(seq, INTENT, encode_payload(intent(seq))))
        disk.fsync(handle)
        disk.close(handle)
    disk.fsync_dir()


def test_replay_when_sequence_gap_across_segments_then_wal_sequence_gap() -> None:
    disk = SimulatedDisk()
    write_segments(disk, {1: [1, 2], 2: [4, 5]})
    with pytest.raises(WalSequenceGap) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.path.endswith(segment_name(2))
    assert (caught.value.offset, caught.value.expected, caught.value.found) == (0, 3, 4)


def test_replay_when_sequence_repeats_then_wal_sequence_gap() -> None:
    disk = SimulatedDisk()
    write_segments(disk, {1: [1, 2, 2, 3]})
    with pytest.raises(WalSequenceGap) as caught:
        list(Wal("unused", disk=disk).replay())
    assert (caught.value.expected, caught.value.found) == (3, 2)


def test_replay_when_log_starts_after_one_without_checkpoint_then_gap() -> None:
    disk = SimulatedDisk()
    write_segments(disk, {1: [5, 6]})
    with pytest.raises(WalSequenceGap) as caught:
        list(Wal("unused", disk=disk).replay())
    assert (caught.value.expected, caught.value.found) == (1, 5)


def test_replay_when_segment_file_missing_then_corruption_names_it() -> None:
    disk = SimulatedDisk()
    write_segments(disk, {1: [1], 2: [2], 3: [3]})
    disk.remove(segment_name(2))
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.path.endswith(segment_name(2))


def test_replay_when_unknown_record_type_then_corruption() -> None:
    disk = SimulatedDisk()
    write_segments(disk, {1: [1]})
    handle = disk.open(SEG1)
    body = frame_record(2, INTENT, b"{}")
    # Rewrite the type byte and both checksums as a newer writer would have.
    forged = bytearray(body)
    forged[13] = 77

    forged[8:12] = zlib.crc32(bytes(forged[12:HEADER_SIZE])).to_bytes(4, "little")
    forged[4:8] = zlib.crc32(bytes(forged[8:])).to_bytes(4, "little")
    disk.append(handle, bytes(forged) + frame_record(3, INTENT, b"{}"))
    disk.fsync(handle)
    assert frame_record(2, INTENT, b"{}")[12:] != bytes(forged[12:])
    with pytest.raises(WalCorruption, match="unknown record type 77") as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.sequence == 2


# -- SEGMENTS -----------------------------------------------------------------


def test_commit_when_segment_full_then_rolls_and_fsyncs_directory() -> None:
    disk = SimulatedDisk()
    frame = len(frame_record(1, INTENT, encode_payload(intent(0))))
    wal, _ = recovered(disk, segment_bytes=3 * frame)
    for n in range(7):
        wal.append_and_commit(INTENT, intent(n))
    assert disk.listdir() == [segment_name(i) for i in (1, 2, 3)]
    assert [len(disk.read(name)) for name in disk.listdir()] == [3 * frame, 3 * frame, frame]
    assert disk.dir_fsyncs == 3
    disk.power_off()
    disk.crash()
    assert disk.durable_names() == [segment_name(i) for i in (1, 2, 3)]
    wal, records = recovered(disk, segment_bytes=3 * frame)
    assert [r.seq for r in records] == list(range(1, 8))
    assert [r.segment for r in records][::3] == [segment_name(i) for i in (1, 2, 3)]
    assert wal.report is not None and wal.report.segments == tuple(disk.listdir())


def test_commit_when_batch_larger_than_segment_then_kept_whole() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk, segment_bytes=100)
    wal.append_many([(INTENT, intent(n)) for n in range(10)])
    wal.append_and_commit(INTENT, intent(10))
    assert disk.listdir() == [segment_name(1), segment_name(2)]
    _, records = recovered(disk)
    assert [r.segment for r in records].count(segment_name(1)) == 10


def test_simulated_disk_when_directory_not_fsynced_then_new_file_lost() -> None:
    """The simulation is strict enough for the segment test above to mean something."""
    disk = SimulatedDisk()
    handle = disk.open("orphan.log")
    disk.append(handle, b"data")
    disk.fsync(handle)
    disk.power_off()
    disk.crash()
    assert disk.listdir() == []


# -- CHECKPOINTS --------------------------------------------------------------


def test_checkpoint_when_written_then_loaded_and_replay_starts_after_it() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(5)])
    wal.write_checkpoint({"cash": Decimal("100.50"), "orders": ["a"]}, 3)
    wal, records = recovered(disk)
    checkpoint = wal.load_checkpoint()
    assert checkpoint is not None
    assert checkpoint.upto_seq == 3
    assert exact(checkpoint.state) == exact({"cash": Decimal("100.50"), "orders": ["a"]})
    assert [r.seq for r in records] == [4, 5]
    assert wal.report is not None and (wal.report.scanned, wal.report.records) == (5, 2)
    assert [r.seq for r in wal.replay(after_seq=0)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("skip", [0, 1], ids=["before-temp-fsync", "after-rename-before-dir-fsync"])
def test_checkpoint_when_crash_before_it_is_durable_then_old_checkpoint_stays(skip: int) -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(5)])
    wal.write_checkpoint({"version": "old"}, 2)
    disk.crash_at_next_fsync(skip=skip)
    with pytest.raises(SimulatedCrash):
        wal.write_checkpoint({"version": "new"}, 4)
    disk.crash(keep_bytes=10_000)
    wal, records = recovered(disk)
    assert wal.load_checkpoint() == (2, {"version": "old"})
    assert [r.seq for r in records] == [3, 4, 5]


def test_checkpoint_when_stale_temp_file_on_real_disk_then_ignored(tmp_path: Path) -> None:
    wal, _ = recovered(OsDisk(tmp_path))
    wal.append_many([(INTENT, intent(n)) for n in range(2)])
    wal.write_checkpoint({"version": 1}, 1)
    (tmp_path / "checkpoint.tmp").write_bytes(b"half a checkpoint")
    wal, records = recovered(OsDisk(tmp_path))
    assert wal.load_checkpoint() == (1, {"version": 1})
    assert [r.seq for r in records] == [2]
    wal.write_checkpoint({"version": 2}, 2)
    assert wal.load_checkpoint() == (2, {"version": 2})
    assert sorted(os.listdir(tmp_path)) == ["checkpoint", SEG1]


def test_checkpoint_when_beyond_committed_or_backwards_then_refused() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(3)])
    wal.append(INTENT, intent(3))  # appended, not durable: a checkpoint cannot cover it
    with pytest.raises(InvalidValue, match="upto_seq"):
        wal.write_checkpoint({}, 4)
    wal.write_checkpoint({}, 3)
    with pytest.raises(InvalidValue, match="before the current checkpoint"):
        wal.write_checkpoint({}, 2)


def test_checkpoint_when_damaged_then_wal_corruption_names_it() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_and_commit(INTENT, intent(0))
    wal.write_checkpoint({"a": 1}, 1)
    disk.corrupt("checkpoint", HEADER_SIZE)
    with pytest.raises(WalCorruption) as caught:
        list(Wal("unused", disk=disk).replay())
    assert caught.value.path.endswith("checkpoint")


def test_checkpoint_when_log_ends_before_it_then_wal_corruption() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk)
    wal.append_many([(INTENT, intent(n)) for n in range(4)])
    wal.write_checkpoint({}, 4)
    offsets = [r.offset for r in Wal("unused", disk=disk).replay(after_seq=0)]
    disk.truncate(SEG1, offsets[2])  # records 3 and 4, covered by the checkpoint, gone
    with pytest.raises(WalCorruption, match="checkpoint covers up to 4"):
        list(Wal("unused", disk=disk).replay())


def test_compact_when_checkpoint_covers_segments_then_only_those_deleted() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk, segment_bytes=1)  # one record per segment
    wal.append_many([(INTENT, intent(0))])
    for n in range(1, 5):
        wal.append_and_commit(INTENT, intent(n))
    assert wal.compact() == []  # no checkpoint yet
    wal.write_checkpoint({"k": 1}, 3)
    assert wal.compact() == [segment_name(1), segment_name(2), segment_name(3)]
    disk.power_off()
    disk.crash()
    assert disk.listdir() == ["checkpoint", segment_name(4), segment_name(5)]
    wal, records = recovered(disk, segment_bytes=1)
    assert [r.seq for r in records] == [4, 5]
    with pytest.raises(InvalidValue, match="compacted"):
        list(wal.replay(after_seq=0))
    assert wal.append_and_commit(INTENT, intent(5)) == 6
    assert disk.listdir()[-1] == segment_name(6)


def test_compact_when_everything_covered_then_active_segment_kept() -> None:
    disk = SimulatedDisk()
    wal, _ = recovered(disk, segment_bytes=1)
    for n in range(3):
        wal.append_and_commit(INTENT, intent(n))
    wal.write_checkpoint({}, 3)
    assert wal.compact() == [segment_name(1), segment_name(2)]
    wal, records = recovered(disk)
    assert records == []
    assert wal.next_seq == 4
