"""The write-ahead log: the gateway's truth, appended and fsynced before anything acts on it.

Durability contract
    ``append`` only buffers a record in memory and gives it the next sequence
    number. ``commit`` writes every buffered record in one write and fsyncs
    once (group commit); when it returns, those records survive a crash.
    **Nothing may be sent to an exchange, and no breaker transition may take
    effect, before the commit holding its record has returned.** If a write or
    fsync fails the log raises ``WalWriteFailed`` and refuses every later call:
    only a restart that replays the disk knows what is durable.

What a crash may keep
    Let C be the last sequence whose ``commit`` returned and W the last
    sequence of a commit still in progress at the crash (W = C if none). After
    the crash, replay yields exactly the records 1..k as they were appended,
    for some C <= k <= W: every committed record, then possibly some complete
    records of the interrupted commit (the caller never saw that commit return,
    so it acted on none of them; recovery resolves such intents by asking the
    venue). Never a record that was only appended, never a partial record,
    never a gap.

Layout on disk
    A directory of segments ``wal-00000001.log``, ``wal-00000002.log``, ... A
    segment rolls when the next batch would pass ``segment_bytes`` (a batch is
    never split). Creating a segment fsyncs the directory, so the file's name
    is as durable as its bytes. Each record is a frame with a sequence number
    and two CRC32 checksums (the header alone, and everything after the
    checksum field): see ``gateway.wal_format``.

Recovery
    ``replay()`` reads every segment. A torn tail — at most one incomplete
    frame at the end of the *last* segment: fewer bytes than a header, or a
    sound header whose record runs past the end — is truncated away, logged
    and reported. Anything else that is wrong (a complete last frame whose
    checksum fails, zeros the size of a header or more, a bad frame followed by
    more bytes, damage in an earlier segment, a sequence gap, a missing
    segment) raises ``WalCorruption`` naming the segment, the byte and the
    sequence, and nothing is cut: such bytes can hide committed records, and a
    log that drops them silently loses orders, so the log halts rather than guess. Replay is read-only apart from that truncation,
    which is idempotent: replaying twice yields what replaying once did.

Checkpoints
    ``write_checkpoint(state, upto_seq)`` writes a snapshot of the caller's
    state as one frame to a temp file, fsyncs it, renames it over
    ``checkpoint`` and fsyncs the directory: a crash leaves either the old or
    the new checkpoint, never a mix. Replay then starts after its sequence,
    and ``compact()`` deletes segments it fully covers.

Not thread-safe: one owner (the gateway actor) calls it.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from core.errors import InvalidValue
from gateway.disk import Disk, OsDisk
from gateway.errors import WalCorruption, WalNotRecovered, WalSequenceGap, WalWriteFailed
from gateway.wal_format import (
    FrameReader,
    RecordType,
    decode_payload,
    encode_payload,
    frame_record,
    revive_decimals,
)

__all__ = [
    "Checkpoint",
    "Record",
    "RecordType",
    "RecoveryReport",
    "Wal",
    "decode_payload",
    "encode_payload",
    "segment_name",
]

logger = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

SEGMENT_PREFIX = "wal-"
SEGMENT_SUFFIX = ".log"
CHECKPOINT_NAME = "checkpoint"
CHECKPOINT_TEMP_NAME = "checkpoint.tmp"


class Record(NamedTuple):
    """One replayed record and where it sits on disk."""

    seq: int
    type: RecordType
    payload: dict[str, Any]
    segment: str
    offset: int


class Checkpoint(NamedTuple):
    """A durable snapshot of the caller's state covering every record up to ``upto_seq``."""

    upto_seq: int
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What a full replay found: how many records, where the log ends, what was cut."""

    records: int
    """Records yielded (those after the replay's start)."""
    scanned: int
    """Records read and verified, including those a checkpoint already covers."""
    first_seq: int | None
    last_seq: int
    checkpoint_seq: int
    segments: tuple[str, ...]
    torn_bytes: int = 0
    torn_segment: str | None = None
    torn_offset: int | None = None


# -- SEGMENT NAMES ------------------------------------------------------------


def segment_name(index: int) -> str:
    """Return the file name of segment ``index`` (1-based)."""
    return f"{SEGMENT_PREFIX}{index:08d}{SEGMENT_SUFFIX}"


def _segment_index(name: str) -> int | None:
    if not (name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX)):
        return None
    digits = name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]
    return int(digits) if digits.isdigit() else None


# -- THE LOG ------------------------------------------------------------------


class Wal:
    """A segmented, checksummed, group-committed write-ahead log (see the module doc)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        disk: Disk | None = None,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if segment_bytes <= 0:
            raise InvalidValue("segment_bytes", segment_bytes, "must be > 0")
        self._disk: Disk = disk if disk is not None else OsDisk(directory)
        self._segment_bytes = segment_bytes
        self._pending: list[bytes] = []
        self._next_seq = 1
        # Group commit: appends may go on (on the caller's thread) while a commit
        # writes and fsyncs on another; the buffer lock guards the buffer and the
        # sequence, the commit lock keeps commits one at a time and in order.
        self._buffer_lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._committed_seq = 0
        self._segments: list[tuple[str, int | None]] = []  # (name, first seq or None if empty)
        self._active_size = 0
        self._handle: int | None = None
        self._recovered = False
        self._failure: str | None = None
        self.report: RecoveryReport | None = None

    @property
    def committed_seq(self) -> int:
        """Return the last sequence known durable (0 before any record)."""
        return self._committed_seq

    @property
    def next_seq(self) -> int:
        """Return the sequence the next ``append`` will get."""
        return self._next_seq

    @property
    def recovered(self) -> bool:
        """Return True once a full replay has run and appending is allowed."""
        return self._recovered

    # -- writing ------------------------------------------------------------

    def append(self, record_type: RecordType, payload: Mapping[str, Any]) -> int:
        """Buffer one record and return its sequence; durable only after ``commit``."""
        self._check_writable()
        body = encode_payload(payload)
        with self._buffer_lock:
            seq = self._next_seq
            self._pending.append(frame_record(seq, record_type, body))
            self._next_seq = seq + 1
        return seq

    def commit(self) -> int:
        """Write and fsync every buffered record at once; return the last durable sequence.

        Safe to call from another thread than the appender's: the records
        buffered when the commit starts are written; later ones wait for the next.
        """
        with self._commit_lock:
            return self._commit_buffered()

    def _commit_buffered(self) -> int:
        self._check_writable()
        with self._buffer_lock:
            if not self._pending:
                return self._committed_seq
            frames, self._pending = self._pending, []
            last = self._next_seq - 1
        data = b"".join(frames)
        try:
            self._ensure_segment(len(data))
            assert self._handle is not None
            self._disk.append(self._handle, data)
            self._disk.fsync(self._handle)
        except OSError as exc:
            self._fail("commit", exc)
            raise self._failed_error() from exc
        except BaseException as exc:  # a simulated power cut, KeyboardInterrupt: still poisoned
            self._fail("commit", exc)
            raise
        self._active_size += len(data)
        self._committed_seq = last
        return self._committed_seq

    def append_and_commit(self, record_type: RecordType, payload: Mapping[str, Any]) -> int:
        """Append one record and commit it (with anything buffered before); return its sequence."""
        seq = self.append(record_type, payload)
        self.commit()
        return seq

    def append_many(
        self, records: Iterable[tuple[RecordType, Mapping[str, Any]]], *, commit: bool = True
    ) -> list[int]:
        """Append a batch (and by default commit it with one fsync); return the sequences in order.

        Every record is encoded before any is buffered, so a bad one leaves the
        buffer as it was. ``commit=False`` leaves the batch for a group commit.
        """
        self._check_writable()
        bodies = [(record_type, encode_payload(payload)) for record_type, payload in records]
        with self._buffer_lock:
            first = self._next_seq
            self._pending.extend(
                frame_record(seq, record_type, body)
                for seq, (record_type, body) in enumerate(bodies, start=first)
            )
            self._next_seq = first + len(bodies)
            seqs = list(range(first, self._next_seq))
        if commit:
            self.commit()
        return seqs

    def close(self) -> None:
        """Close the active segment; records appended but not committed are dropped."""
        self._pending.clear()
        self._next_seq = self._committed_seq + 1
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._disk.close(handle)

    def _ensure_segment(self, batch_bytes: int) -> None:
        active = self._segments[-1] if self._segments else None
        full = self._active_size > 0 and self._active_size + batch_bytes > self._segment_bytes
        if active is None or full:
            if self._handle is not None:
                handle, self._handle = self._handle, None
                self._disk.close(handle)
            index = 1 if active is None else (_segment_index(active[0]) or 0) + 1
            name = segment_name(index)
            self._handle = self._disk.open(name)
            # The directory entry must be durable too, or a crash could lose a
            # whole segment of fsynced records with its name.
            self._disk.fsync_dir()
            self._segments.append((name, self._committed_seq + 1))
            self._active_size = 0
            return
        if self._handle is None:
            self._handle = self._disk.open(active[0])
        if active[1] is None:
            self._segments[-1] = (active[0], self._committed_seq + 1)

    # -- replay -------------------------------------------------------------

    def recover(self) -> RecoveryReport:
        """Replay without keeping the records; return the report (for a writer-only owner)."""
        for _ in self.replay():
            pass
        assert self.report is not None
        return self.report

    def replay(self, after_seq: int | None = None) -> Iterator[Record]:
        """Yield every record after ``after_seq`` (default: after the checkpoint), in order.

        Verify every frame and the sequence across segments. When the iteration
        ends, truncate a torn tail, set ``report`` and allow appending after the
        last record. Raise ``WalCorruption`` (or ``WalSequenceGap``) on damage
        that is not a torn tail, naming the segment, the byte and the sequence.
        """
        self._check_usable()
        if self._pending:
            raise InvalidValue("replay", len(self._pending), "records appended but not committed")
        if after_seq is not None and after_seq < 0:
            raise InvalidValue("after_seq", after_seq, "must be >= 0")
        return self._replay(after_seq)

    def _replay(self, after_seq: int | None) -> Iterator[Record]:
        checkpoint = self.load_checkpoint()
        base = checkpoint.upto_seq if checkpoint is not None else 0
        start = base if after_seq is None else after_seq
        names = self._segment_names()
        segments: list[tuple[str, int | None]] = []
        expected = base + 1
        first_seq: int | None = None
        torn: tuple[str, int, int] | None = None
        tail_size = 0
        loads = orjson.loads
        new_record = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
        for position, name in enumerate(names):
            data = self._disk.read(name)
            path = self._disk.describe(name)
            frames = FrameReader(data, path, last_segment=position == len(names) - 1)
            segment_start = expected
            holds_first = first_seq is None
            for offset, seq, record_type, payload in frames:
                if seq != expected or first_seq is None:
                    first_seq = self._check_first(path, offset, seq, expected, first_seq, start)
                expected = seq + 1
                if seq > start:
                    try:
                        decoded = loads(payload)
                        if type(decoded) is not dict:
                            decoded = revive_decimals(decoded)
                    except ValueError as exc:
                        raise WalCorruption(
                            path, offset, seq, f"unreadable payload: {exc}"
                        ) from None
                    yield new_record(Record, (seq, record_type, decoded, name, offset))
            if frames.torn_at is not None:
                torn = (name, frames.torn_at, len(data) - frames.torn_at)
            if expected == segment_start and not (holds_first and first_seq is not None):
                segments.append((name, None))
            else:
                segments.append((name, first_seq if holds_first else segment_start))
            tail_size = len(data) if frames.torn_at is None else frames.torn_at
        last_seq = expected - 1 if first_seq is not None else 0
        if first_seq is None and start < base:
            raise InvalidValue("after_seq", after_seq, f"records up to {base} were compacted")
        if first_seq is not None and last_seq < base:
            raise WalCorruption(
                self._disk.describe(CHECKPOINT_NAME),
                0,
                base,
                f"the checkpoint covers up to {base} but the log ends at {last_seq}",
            )
        if torn is not None:
            name, offset, count = torn
            logger.warning(
                "wal: truncating a torn tail of %d bytes at %s byte %d (after sequence %d)",
                count,
                self._disk.describe(name),
                offset,
                last_seq,
            )
            self._disk.truncate(name, offset)
        last = max(last_seq, base)
        self._reset_writer(segments, tail_size, last)
        scanned = last_seq - first_seq + 1 if first_seq is not None else 0
        self.report = RecoveryReport(
            records=max(0, last_seq - max(start, (first_seq or 1) - 1)) if scanned else 0,
            scanned=scanned,
            first_seq=first_seq,
            last_seq=last,
            checkpoint_seq=base,
            segments=tuple(name for name, _ in segments),
            torn_bytes=torn[2] if torn else 0,
            torn_segment=torn[0] if torn else None,
            torn_offset=torn[1] if torn else None,
        )

    @staticmethod
    def _check_first(
        path: str, offset: int, seq: int, expected: int, first_seq: int | None, start: int
    ) -> int:
        """Return the log's first sequence after checking a record that is not ``expected``.

        Only the very first record may differ: with a checkpoint it may be older
        (not yet compacted), never newer — unless the caller replays after ``start``
        and its own checkpoint retired the segments up to there (``retire_segments``);
        anywhere else a difference is a gap.
        """
        if first_seq is not None:
            raise WalSequenceGap(path, offset, expected, seq)
        if seq < 1:
            raise WalCorruption(path, offset, seq, "sequence numbers start at 1")
        if seq > expected and seq > start + 1:
            raise WalSequenceGap(path, offset, expected, seq)
        if start + 1 < seq:
            raise InvalidValue("after_seq", start, f"records before {seq} were compacted")
        return seq

    def _segment_names(self) -> list[str]:
        indexed = sorted(
            (index, name)
            for name in self._disk.listdir()
            if (index := _segment_index(name)) is not None
        )
        for (previous, _), (index, name) in itertools.pairwise(indexed):
            if index != previous + 1:
                missing = self._disk.describe(segment_name(previous + 1))
                raise WalCorruption(missing, 0, None, f"segment missing before {name}")
        return [name for _, name in indexed]

    def _reset_writer(self, segments: list[tuple[str, int | None]], size: int, last: int) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._disk.close(handle)
        self._segments = segments
        self._active_size = size
        self._committed_seq = last
        self._next_seq = last + 1
        self._recovered = True

    # -- checkpoints --------------------------------------------------------

    def write_checkpoint(self, state: Mapping[str, Any], upto_seq: int) -> None:
        """Durably replace the checkpoint with ``state``, which covers records up to ``upto_seq``."""
        self._check_writable()
        if not 0 <= upto_seq <= self._committed_seq:
            raise InvalidValue(
                "upto_seq", upto_seq, f"must be within [0, committed {self._committed_seq}]"
            )
        current = self.load_checkpoint()
        if current is not None and upto_seq < current.upto_seq:
            raise InvalidValue(
                "upto_seq", upto_seq, f"before the current checkpoint's {current.upto_seq}"
            )
        frame = frame_record(upto_seq, RecordType.CHECKPOINT, encode_payload(state))
        try:
            handle = self._disk.open(CHECKPOINT_TEMP_NAME, truncate=True)
            try:
                self._disk.append(handle, frame)
                self._disk.fsync(handle)
            finally:
                self._disk.close(handle)
            self._disk.rename(CHECKPOINT_TEMP_NAME, CHECKPOINT_NAME)
            self._disk.fsync_dir()
        except OSError as exc:
            # The log itself is intact; only this checkpoint is in doubt.
            raise WalWriteFailed(self._disk.describe(CHECKPOINT_NAME), str(exc)) from exc

    def load_checkpoint(self) -> Checkpoint | None:
        """Return the durable checkpoint, or None; raise ``WalCorruption`` if it is damaged."""
        if CHECKPOINT_NAME not in self._disk.listdir():
            return None
        data = self._disk.read(CHECKPOINT_NAME)
        path = self._disk.describe(CHECKPOINT_NAME)
        frames = list(FrameReader(data, path, last_segment=False))
        if len(frames) != 1 or frames[0][2] is not RecordType.CHECKPOINT:
            raise WalCorruption(path, 0, None, "a checkpoint is exactly one CHECKPOINT frame")
        _, seq, _, payload = frames[0]
        try:
            return Checkpoint(seq, decode_payload(payload))
        except (ValueError, ArithmeticError) as exc:
            raise WalCorruption(path, 0, seq, f"checkpoint state unreadable: {exc}") from None

    def compact(self) -> list[str]:
        """Delete the oldest segments the checkpoint fully covers; return their names.

        The active (last) segment is always kept. Each deletion is made durable
        before the next, so the segments left are always a contiguous run.
        """
        self._check_writable()
        checkpoint = self.load_checkpoint()
        if checkpoint is None:
            return []
        removed: list[str] = []
        while len(self._segments) > 1:
            name, _ = self._segments[0]
            following = self._segments[1][1]
            last_in_segment = (following - 1) if following is not None else self._committed_seq
            if last_in_segment > checkpoint.upto_seq:
                break
            self._disk.remove(name)
            self._disk.fsync_dir()
            self._segments.pop(0)
            removed.append(name)
        return removed

    def retire_segments(self, upto_seq: int) -> list[str]:
        """Drop the oldest segments whose records are all <= ``upto_seq``; return their names.

        For a caller that checkpoints its own state (``gateway.checkpoint``): the log
        forgets the segments at once, oldest first, and the caller deletes or archives
        the files (oldest first, so what is left on disk stays a contiguous run; a
        file still there after a crash is read and skipped by a replay after
        ``upto_seq``). The active (last) segment is always kept.
        """
        self._check_writable()
        retired: list[str] = []
        while len(self._segments) > 1:
            name, _ = self._segments[0]
            following = self._segments[1][1]
            last_in_segment = (following - 1) if following is not None else self._committed_seq
            if last_in_segment > upto_seq:
                break
            self._segments.pop(0)
            retired.append(name)
        return retired

    # -- state checks -------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failed_error()

    def _check_writable(self) -> None:
        self._check_usable()
        if not self._recovered:
            raise WalNotRecovered("the WAL accepts records only after a full replay()")

    def _fail(self, what: str, exc: BaseException) -> None:
        self._failure = f"{what} failed: {exc!r}"
        self._pending.clear()
        self._handle = None  # possibly dead (a simulated crash); never reuse it

    def _failed_error(self) -> WalWriteFailed:
        where = self._segments[-1][0] if self._segments else "(no segment)"
        return WalWriteFailed(self._disk.describe(where), f"{self._failure}; restart and replay")
