"""Engine checkpoints on disk: written off the order path, read back at recovery, with a fallback.

Files
    Beside the WAL's segments (same directory, same ``Disk``), one file per checkpoint,
    ``engine-checkpoint-<upto_seq, 20 digits>``: a header line, then the engine's state
    (``GatewayEngine.checkpoint_state``) as orjson bytes::

        SWCK {"version": 1, "upto_seq": N, "bytes": B, "sha256": "..."}\\n<B bytes of state>

    The digest covers the version, ``upto_seq`` and the state, so a flipped byte anywhere
    — the sequence included — is caught. A file is written to a temp name, fsynced,
    renamed and the directory fsynced: a crash leaves the old files or the new one whole.

Fallback, never to less
    The two newest checkpoints are kept: an older one is deleted only once a newer one
    is durable. Recovery restores the newest that reads (checksum, version, shape) and
    replays the WAL after it; a bad one is logged and the previous one is tried, then
    the full log. WAL segments are retired (deleted, or archived to a directory) only
    behind the *older* of the two kept checkpoints, so whichever of the two is restored,
    the WAL after it is still there. If neither reads and the log no longer starts at
    sequence 1, recovery halts (``WalCorruption`` / ``InvalidValue`` naming the
    sequence) rather than start from less; the archive still holds the whole history
    (``replay_with_archive``: the audit rebuild and ``chaos.check`` read it).

Off the order path
    ``Checkpointer.note`` is called after each logged batch (on the event loop). When
    ``every_records`` records or ``every_s`` seconds have passed it *captures* the state
    there (``capture_state``: between two applies, so exactly the committed records'
    state; copies of what the engine changes in place, the retired keys shared, a few ms
    at 1M records: ``stats.last_stall_s``) and hands building the dict, encoding,
    checksum and the write to a thread (``asyncio.to_thread``). The WAL object never
    leaves the loop: the thread touches only checkpoint files and segment files the log
    has already forgotten (``Wal.retire_segments``). One write at a time.

Restoring
    Decoding a checkpoint makes many objects that live as long as the gateway: the cyclic
    garbage collector is paused while they are made (it would scan them again and again
    for garbage there is none of).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson
from pydantic import Field

from core.clock import NS_PER_S, Clock
from core.config import ConfigModel
from core.errors import InvalidValue
from gateway.disk import Disk, OsDisk
from gateway.engine_checkpoint import CheckpointedState, CheckpointInvalid, StateCapture
from gateway.engine_records import WalRecord
from gateway.errors import WalCorruption, WalSequenceGap
from gateway.wal import Record, Wal, _segment_index

log = logging.getLogger(__name__)

MAGIC = b"SWCK "
FILE_VERSION = 1
PREFIX = "engine-checkpoint-"
TEMP_NAME = "engine-checkpoint.tmp"
KEEP = 2


class CheckpointSettings(ConfigModel):
    """When the gateway checkpoints its engine and what becomes of the WAL behind it."""

    every_records: int | None = Field(default=100_000, gt=0)
    """Checkpoint after this many records logged since the last one (None: never by count)."""
    every_s: float | None = Field(default=300.0, gt=0)
    """Checkpoint when this long has passed since the last one and records were logged."""
    retire: Literal["archive", "delete", "keep"] = "archive"
    """Segments behind the older kept checkpoint: moved to ``archive_dir``, deleted, or kept."""
    archive_dir: str | None = None
    """Where retired segments go (default: ``<state_dir>/wal-archive``)."""


class CheckpointCorrupt(WalCorruption):
    """A checkpoint file that does not read: bad header, length, checksum or version."""


def checkpoint_name(upto_seq: int) -> str:
    return f"{PREFIX}{upto_seq:020d}"


def _digest(upto_seq: int, body: bytes) -> str:
    return hashlib.sha256(f"{FILE_VERSION}:{upto_seq}:".encode() + body).hexdigest()


def encode_checkpoint(upto_seq: int, state: Mapping[str, Any]) -> bytes:
    """Return the file's bytes for ``state`` covering the records up to ``upto_seq``."""
    body = orjson.dumps(state)
    header = {
        "version": FILE_VERSION,
        "upto_seq": upto_seq,
        "bytes": len(body),
        "sha256": _digest(upto_seq, body),
    }
    return MAGIC + orjson.dumps(header) + b"\n" + body


def decode_checkpoint(data: bytes, path: str) -> tuple[int, dict[str, Any]]:
    """Return ``(upto_seq, state)``; raise ``CheckpointCorrupt`` naming the file and the fault."""
    end = data.find(b"\n")
    if not data.startswith(MAGIC) or end < 0:
        raise CheckpointCorrupt(path, 0, None, "no checkpoint header")
    try:
        header = orjson.loads(data[len(MAGIC) : end])
        version, upto_seq = header["version"], header["upto_seq"]
        size, digest = header["bytes"], header["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointCorrupt(path, 0, None, f"unreadable header: {exc}") from None
    if version != FILE_VERSION:
        raise CheckpointCorrupt(path, 0, None, f"version {version!r}, this code reads 1")
    body = data[end + 1 :]
    if type(upto_seq) is not int or len(body) != size:
        raise CheckpointCorrupt(path, end + 1, None, f"{len(body)} bytes of state, not {size}")
    if _digest(upto_seq, body) != digest:
        raise CheckpointCorrupt(path, end + 1, upto_seq, "checksum mismatch")
    try:
        state = orjson.loads(body)
    except ValueError as exc:
        raise CheckpointCorrupt(path, end + 1, upto_seq, f"unreadable state: {exc}") from None
    if not isinstance(state, dict):
        raise CheckpointCorrupt(path, end + 1, upto_seq, "the state is not a mapping")
    return upto_seq, state


# -- THE FILES ----------------------------------------------------------------


class CheckpointStore:
    """The checkpoint files in one directory (see the module doc)."""

    def __init__(self, disk: Disk) -> None:
        self.disk = disk

    def sequences(self) -> list[int]:
        """Return the ``upto_seq`` of every checkpoint file, oldest first."""
        found = []
        for name in self.disk.listdir():
            digits = name[len(PREFIX) :] if name.startswith(PREFIX) else ""
            if digits.isdigit():
                found.append(int(digits))
        return sorted(found)

    def read(self, upto_seq: int) -> dict[str, Any]:
        """Return the state of the checkpoint at ``upto_seq``; ``CheckpointCorrupt`` if bad."""
        name = checkpoint_name(upto_seq)
        path = self.disk.describe(name)
        seq, state = decode_checkpoint(self.disk.read(name), path)
        if seq != upto_seq:
            raise CheckpointCorrupt(path, 0, seq, f"the file is named for {upto_seq}")
        return state

    def write(self, upto_seq: int, state: Mapping[str, Any]) -> int:
        """Write one checkpoint durably, then delete all but the ``KEEP`` newest; return its bytes."""
        data = encode_checkpoint(upto_seq, state)
        handle = self.disk.open(TEMP_NAME, truncate=True)
        try:
            self.disk.append(handle, data)
            self.disk.fsync(handle)
        finally:
            self.disk.close(handle)
        self.disk.rename(TEMP_NAME, checkpoint_name(upto_seq))
        self.disk.fsync_dir()
        older = [seq for seq in self.sequences() if seq < upto_seq]
        for seq in older[: max(0, len(older) - (KEEP - 1))]:
            self.disk.remove(checkpoint_name(seq))
        if len(older) >= KEEP:
            self.disk.fsync_dir()
        return len(data)

    def retire_behind(self) -> int | None:
        """Return the sequence segments may be retired up to: the older kept checkpoint's."""
        kept = self.sequences()
        return kept[-KEEP] if len(kept) >= KEEP else None


@dataclass(frozen=True, slots=True)
class Restored:
    """What recovery started from: a checkpoint (``upto_seq`` > 0) or the full log (0)."""

    upto_seq: int
    skipped: tuple[str, ...] = ()
    """Checkpoints that did not read, newest first, each with why."""


def restore_latest(engine: CheckpointedState, store: CheckpointStore) -> Restored:
    """Restore ``engine`` (fresh) from the newest checkpoint that reads; else leave it fresh.

    A bad checkpoint is logged and skipped; the engine is reset before the next try.
    """
    skipped: list[str] = []
    collecting = gc.isenabled()
    gc.disable()  # millions of long-lived objects: no collection while they are made
    try:
        for upto_seq in reversed(store.sequences()):
            try:
                engine.restore_checkpoint(store.read(upto_seq))
            except (CheckpointCorrupt, CheckpointInvalid) as exc:
                engine.reset_state()
                log.error(
                    "checkpoint %d skipped, trying an older one or the log: %s", upto_seq, exc
                )
                skipped.append(f"{checkpoint_name(upto_seq)}: {exc}")
                continue
            return Restored(upto_seq, tuple(skipped))
        return Restored(0, tuple(skipped))
    finally:
        if collecting:
            gc.enable()


class RecordSink(Protocol):
    def add(self, first_seq: int, records: Sequence[WalRecord]) -> None: ...


def replay_after(
    wal: Wal, engine: CheckpointedState, start: int, audit: RecordSink | None = None
) -> int:
    """Apply the WAL's records after ``start`` to ``engine``; return how many.

    ``audit`` (the audit store) is fed every record too; it skips what it has. When it
    lost records in a crash that come before ``start`` (the engine came from a
    checkpoint), they are read as well if the log still holds them; if not, the store
    is left with its gap (it says so: rebuild it from the archive and the WAL).
    """
    audit_from = start
    last_seq = getattr(audit, "last_seq", None)
    if audit is not None and isinstance(last_seq, int) and last_seq < start:
        audit_from = last_seq
    replayed = 0
    try:
        for record in wal.replay(after_seq=audit_from):
            if audit is not None:
                audit.add(record.seq, [(record.type, record.payload)])
            if record.seq > start:
                engine.apply(record.type, record.payload)
                replayed += 1
    except (InvalidValue, WalSequenceGap):
        if audit_from == start or replayed:
            raise
        log.error("the audit store is behind the retired log (from %d): rebuild it", audit_from)
        return replay_after(wal, engine, start)
    return replayed


# -- RETIRED SEGMENTS -----------------------------------------------------------


def dispose_segments(
    names: list[str], wal_disk: Disk, mode: str, archive_disk: Disk | None
) -> None:
    """Delete or archive retired segments, oldest first, each durable before the next."""
    for name in names:
        if mode == "archive":
            assert archive_disk is not None
            handle = archive_disk.open(name, truncate=True)
            try:
                archive_disk.append(handle, wal_disk.read(name))
                archive_disk.fsync(handle)
            finally:
                archive_disk.close(handle)
            archive_disk.fsync_dir()
        wal_disk.remove(name)
        wal_disk.fsync_dir()


class ArchiveDisk:
    """The archive and the WAL as one read-only directory of segments (the log's whole history).

    A segment in both (a crash between the archive's copy and the WAL's delete) is read
    from the WAL. Writes are refused; a torn tail is left to the log's owner.
    """

    def __init__(self, wal_dir: str | Path, archive_dir: str | Path | None) -> None:
        self._wal = OsDisk(wal_dir)
        self._archive = OsDisk(archive_dir) if archive_dir and Path(archive_dir).is_dir() else None

    def _where(self, name: str) -> OsDisk:
        if self._archive is not None and name not in self._wal.listdir():
            return self._archive
        return self._wal

    def describe(self, name: str) -> str:
        return self._where(name).describe(name)

    def listdir(self) -> list[str]:
        names = set(self._wal.listdir())
        if self._archive is not None:
            names.update(n for n in self._archive.listdir() if _segment_index(n) is not None)
        return sorted(names)

    def read(self, name: str) -> bytes:
        return self._where(name).read(name)

    def truncate(self, name: str, size: int) -> None:
        log.warning("reading %s: ignoring a torn tail after byte %d", self.describe(name), size)

    def open(self, name: str, *, truncate: bool = False) -> int:
        raise PermissionError(f"read-only WAL history: cannot write {name}")

    def append(self, handle: int, data: bytes) -> None:
        raise PermissionError("read-only WAL history")

    def fsync(self, handle: int) -> None:
        raise PermissionError("read-only WAL history")

    def close(self, handle: int) -> None:
        raise PermissionError("read-only WAL history")

    def rename(self, source: str, target: str) -> None:
        raise PermissionError("read-only WAL history")

    def remove(self, name: str) -> None:
        raise PermissionError("read-only WAL history")

    def fsync_dir(self) -> None:
        raise PermissionError("read-only WAL history")


def replay_with_archive(wal_dir: str | Path, archive_dir: str | Path | None) -> Iterator[Record]:
    """Yield every record from sequence 1, from the archive then the WAL, read-only.

    Raise ``WalSequenceGap`` if the first records are in neither (segments deleted).
    """
    return Wal(wal_dir, disk=ArchiveDisk(wal_dir, archive_dir)).replay(after_seq=0)


# -- TAKING CHECKPOINTS -------------------------------------------------------------


@dataclass
class CheckpointStats:
    written: int = 0
    failed: int = 0
    last_upto_seq: int = 0
    last_bytes: int = 0
    last_stall_s: float = 0.0
    """Time on the event loop to capture the state (the only part that blocks orders)."""
    last_encode_s: float = 0.0
    """Time to build, encode and write the file (in a thread when a loop runs)."""
    segments_retired: int = 0
    errors: list[str] = field(default_factory=list)


class Checkpointer:
    """Takes the engine's checkpoints at an interval, off the order path (see the module doc)."""

    def __init__(
        self,
        store: CheckpointStore,
        settings: CheckpointSettings,
        clock: Clock,
        *,
        archive: Disk | None = None,
        offload: bool = True,
        timer: Callable[[], float] | None = None,
    ) -> None:
        """``offload`` False writes inline (a simulation on a simulated disk, one thread);
        ``timer`` (s) measures the dump for the stats (default: the clock)."""
        if settings.retire == "archive" and archive is None:
            raise InvalidValue("archive", None, "retire = 'archive' needs an archive directory")
        self.store = store
        self.settings = settings
        self.stats = CheckpointStats()
        self._clock = clock
        self._archive = archive
        self._offload = offload
        self._timer = timer if timer is not None else (lambda: clock.now_ns() / NS_PER_S)
        self._since = 0
        self._last_ns = clock.now_ns()
        self._task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def note(self, records: int, engine: CheckpointedState, wal: Wal) -> None:
        """Count ``records`` just logged and applied; start a checkpoint if one is due."""
        self._since += records
        settings = self.settings
        due = settings.every_records is not None and self._since >= settings.every_records
        if not due and settings.every_s is not None and self._since:
            due = self._clock.now_ns() - self._last_ns >= settings.every_s * NS_PER_S
        if due and not self.busy:
            self.take(engine, wal)

    def take(self, engine: CheckpointedState, wal: Wal) -> None:
        """Capture the state now (on the loop); encode and write it (in a thread when a loop runs)."""
        collecting = gc.isenabled()
        gc.disable()  # a collection of the whole heap would land in the capture's many copies
        try:
            started = self._timer()
            capture = engine.capture_state()
            upto = wal.committed_seq
            self.stats.last_stall_s = self._timer() - started
        finally:
            if collecting:
                gc.enable()
        self._since = 0
        self._last_ns = self._clock.now_ns()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or not self._offload:
            self._finish(upto, wal, self._encode_and_write(upto, capture))
            return
        self._task = loop.create_task(self._write(upto, capture, wal))

    def _encode_and_write(self, upto: int, capture: StateCapture) -> int:
        started = self._timer()
        size = self.store.write(upto, capture.encode())
        self.stats.last_encode_s = self._timer() - started
        return size

    async def _write(self, upto: int, capture: StateCapture, wal: Wal) -> None:
        try:
            size = await asyncio.to_thread(self._encode_and_write, upto, capture)
            names = self._finish(upto, wal, size, dispose=False)
            if names:
                await asyncio.to_thread(self._dispose, names)
        except Exception as exc:  # the log is intact; the next checkpoint tries again
            self.stats.failed += 1
            self.stats.errors = [*self.stats.errors[-4:], f"{type(exc).__name__}: {exc}"]
            log.exception("checkpoint up to %d failed", upto)

    def _finish(self, upto: int, wal: Wal, size: int, *, dispose: bool = True) -> list[str]:
        self.stats.written += 1
        self.stats.last_upto_seq = upto
        self.stats.last_bytes = size
        behind = self.store.retire_behind()
        if behind is None or self.settings.retire == "keep":
            return []
        names = wal.retire_segments(behind)  # on the loop: the log's bookkeeping
        if names and dispose:
            self._dispose(names)
        return names

    def _dispose(self, names: list[str]) -> None:
        dispose_segments(names, self.store.disk, self.settings.retire, self._archive)
        self.stats.segments_retired += len(names)

    async def drain(self) -> None:
        """Wait for a checkpoint being written (tests, shutdown)."""
        if self._task is not None:
            await self._task
