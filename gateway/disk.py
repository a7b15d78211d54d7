"""The disk port under the write-ahead log: one directory of append-only files.

``OsDisk`` is the real file system. ``SimulatedDisk`` keeps files in memory and
separates bytes that are durable (fsynced) from bytes that were only written,
so a test or the deterministic simulation can cut the power at any point and
see what a real machine could have kept.

The port's durability contract, which both implementations follow:

- ``append`` makes bytes visible to ``read`` at once, durable only after
  ``fsync`` of the same handle returns.
- A file's *name* (created, renamed, removed) is durable only after
  ``fsync_dir`` returns, as POSIX says; a file fsynced but never named durably
  may vanish in a crash.
- ``truncate`` is durable when it returns (the OS implementation fsyncs).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.errors import InvalidValue


@runtime_checkable
class Disk(Protocol):
    """One directory of append-only files, addressed by file name."""

    def describe(self, name: str) -> str:
        """Return the full path of ``name`` for messages."""
        ...

    def listdir(self) -> list[str]:
        """Return the names of the files in the directory."""
        ...

    def read(self, name: str) -> bytes:
        """Return the whole content of ``name`` (written bytes, durable or not)."""
        ...

    def open(self, name: str, *, truncate: bool = False) -> int:
        """Open ``name`` for appending (create it if missing; empty it if ``truncate``)."""
        ...

    def append(self, handle: int, data: bytes) -> None:
        """Write all of ``data`` at the end of the open file."""
        ...

    def fsync(self, handle: int) -> None:
        """Make every byte appended through ``handle`` durable."""
        ...

    def close(self, handle: int) -> None:
        """Close the handle (unsynced bytes stay unsynced)."""
        ...

    def truncate(self, name: str, size: int) -> None:
        """Cut ``name`` to ``size`` bytes, durably."""
        ...

    def rename(self, source: str, target: str) -> None:
        """Replace ``target`` with ``source`` atomically (durable after ``fsync_dir``)."""
        ...

    def remove(self, name: str) -> None:
        """Delete ``name`` (durable after ``fsync_dir``)."""
        ...

    def fsync_dir(self) -> None:
        """Make the directory's current names durable."""
        ...


# -- THE REAL FILE SYSTEM -----------------------------------------------------

# fdatasync flushes the data and the size, which is all an append needs; fsync
# would also flush the modification time, one more metadata write per commit.
_datasync = getattr(os, "fdatasync", os.fsync)


class OsDisk:
    """The real file system, one directory (created on first use, durably)."""

    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory)
        if not self._dir.is_dir():
            self._dir.mkdir(parents=True, exist_ok=True)
            _fsync_path(self._dir.parent)

    @property
    def directory(self) -> Path:
        return self._dir

    def describe(self, name: str) -> str:
        return str(self._dir / name)

    def listdir(self) -> list[str]:
        return sorted(entry.name for entry in os.scandir(self._dir) if entry.is_file())

    def read(self, name: str) -> bytes:
        return (self._dir / name).read_bytes()

    def open(self, name: str, *, truncate: bool = False) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if truncate else 0)
        return os.open(self._dir / name, flags, 0o644)

    def append(self, handle: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            # os.write may write less than asked (signals, full pipes); loop to the end.
            written = os.write(handle, view)
            view = view[written:]

    def fsync(self, handle: int) -> None:
        _datasync(handle)

    def close(self, handle: int) -> None:
        os.close(handle)

    def truncate(self, name: str, size: int) -> None:
        fd = os.open(self._dir / name, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, source: str, target: str) -> None:
        os.replace(self._dir / source, self._dir / target)

    def remove(self, name: str) -> None:
        os.remove(self._dir / name)

    def fsync_dir(self) -> None:
        _fsync_path(self._dir)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- THE SIMULATED DISK -------------------------------------------------------


class SimulatedCrash(Exception):
    """The simulated machine lost power; call ``SimulatedDisk.crash`` to reboot it."""


@dataclass
class _File:
    durable: bytearray = field(default_factory=bytearray)
    unsynced: bytearray = field(default_factory=bytearray)

    def content(self) -> bytes:
        return bytes(self.durable + self.unsynced)


class SimulatedDisk:
    """In-memory files with durable and written-but-unsynced bytes, and a power switch.

    ``crash()`` reboots the machine: the directory returns to its last
    ``fsync_dir``, each file keeps its durable bytes and, if asked, a prefix of
    its unsynced bytes — nothing (the default), a given number of bytes, or a
    seeded random count (``tear=True``), which may end inside a record: a torn
    write. Keeping a *prefix* models an append-only file whose pages reach the
    disk in order; a file that grew but whose new pages hold zeros is made
    with ``extend_with_zeros``.
    """

    def __init__(self, directory: str = "sim-wal", *, seed: int = 0) -> None:
        self._dir = directory
        self._rng = random.Random(seed)
        self._files: dict[int, _File] = {}
        self._names: dict[str, int] = {}
        self._durable_names: dict[str, int] = {}
        self._handles: dict[int, int] = {}
        self._next_id = 1
        self._down = False
        self._crash_at_fsync: int | None = None
        self._error_at_fsync = False
        self.fsyncs = 0
        self.dir_fsyncs = 0

    # -- the port -----------------------------------------------------------

    def describe(self, name: str) -> str:
        return f"{self._dir}/{name}"

    def listdir(self) -> list[str]:
        self._check_up()
        return sorted(self._names)

    def read(self, name: str) -> bytes:
        self._check_up()
        return self._file(name).content()

    def open(self, name: str, *, truncate: bool = False) -> int:
        self._check_up()
        if name not in self._names:
            self._names[name] = self._new_id()
            self._files[self._names[name]] = _File()
        elif truncate:
            # Modelled as immediate and durable: only scratch files (a checkpoint's
            # temp file) are opened with truncate, and their old bytes never matter.
            self._files[self._names[name]] = _File()
        handle = self._new_id()
        self._handles[handle] = self._names[name]
        return handle

    def append(self, handle: int, data: bytes) -> None:
        self._check_up()
        self._by_handle(handle).unsynced += data

    def fsync(self, handle: int) -> None:
        self._check_up()
        file = self._by_handle(handle)
        self._fsync_point()
        file.durable += file.unsynced
        file.unsynced.clear()
        self.fsyncs += 1

    def close(self, handle: int) -> None:
        self._check_up()
        self._by_handle(handle)
        del self._handles[handle]

    def truncate(self, name: str, size: int) -> None:
        self._check_up()
        file = self._file(name)
        kept = file.content()[:size]
        file.durable = bytearray(kept)
        file.unsynced.clear()

    def rename(self, source: str, target: str) -> None:
        self._check_up()
        self._file(source)
        self._names[target] = self._names.pop(source)

    def remove(self, name: str) -> None:
        self._check_up()
        self._file(name)
        del self._names[name]

    def fsync_dir(self) -> None:
        self._check_up()
        self._fsync_point()
        self._durable_names = dict(self._names)
        self.dir_fsyncs += 1

    # -- faults -------------------------------------------------------------

    def crash_at_next_fsync(self, skip: int = 0) -> None:
        """Cut the power when an fsync (file or directory) starts, before it syncs.

        ``skip`` lets that many fsyncs complete first (crash in the middle of a
        sequence such as write temp file, fsync, rename, fsync the directory).
        """
        if skip < 0:
            raise InvalidValue("skip", skip, "must be >= 0")
        self._crash_at_fsync = skip

    def fail_next_fsync(self) -> None:
        """Make the next fsync raise ``OSError`` (EIO) without syncing; the machine stays up."""
        self._error_at_fsync = True

    def power_off(self) -> None:
        """Cut the power now: every later call raises ``SimulatedCrash`` until ``crash()``."""
        self._down = True

    def crash(self, *, tear: bool = False, keep_bytes: int | None = None) -> dict[str, int]:
        """Reboot after a power cut; return how many unsynced bytes each file kept.

        Without arguments every unsynced byte is lost. ``keep_bytes`` keeps that
        many unsynced bytes of each file (capped at what it has); ``tear`` keeps a
        seeded random count instead, from none to all.
        """
        if keep_bytes is not None and keep_bytes < 0:
            raise InvalidValue("keep_bytes", keep_bytes, "must be >= 0")
        kept: dict[str, int] = {}
        self._names = dict(self._durable_names)
        alive = set(self._names.values())
        self._files = {fid: f for fid, f in self._files.items() if fid in alive}
        for name in sorted(self._names):
            file = self._files[self._names[name]]
            count = 0
            if keep_bytes is not None:
                count = min(keep_bytes, len(file.unsynced))
            elif tear:
                count = self._rng.randint(0, len(file.unsynced))
            if file.unsynced:
                kept[name] = count
            file.durable += file.unsynced[:count]
            file.unsynced.clear()
        self._handles.clear()
        self._down = False
        self._crash_at_fsync = None
        self._error_at_fsync = False
        return kept

    def extend_with_zeros(self, name: str, count: int) -> None:
        """Grow ``name`` durably by ``count`` zero bytes (size metadata reached disk, data did not)."""
        self._file(name).durable += bytes(count)

    def corrupt(self, name: str, offset: int, xor: int = 0xFF) -> None:
        """Flip bits of one durable byte (a bad sector, a stray write)."""
        file = self._file(name)
        file.durable[offset] ^= xor

    def unsynced_bytes(self, name: str | None = None) -> int:
        """Return how many bytes of ``name`` (or of every file) were written but not fsynced."""
        if name is None:
            return sum(len(file.unsynced) for file in self._files.values())
        return len(self._file(name).unsynced)

    def durable_names(self) -> list[str]:
        """Return the names that would survive a crash now."""
        return sorted(self._durable_names)

    # -- helpers ------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _check_up(self) -> None:
        if self._down:
            raise SimulatedCrash(f"{self._dir}: the machine is off; call crash() to reboot")

    def _fsync_point(self) -> None:
        if self._crash_at_fsync is not None:
            if self._crash_at_fsync == 0:
                self._down = True
                raise SimulatedCrash(f"{self._dir}: power lost during fsync")
            self._crash_at_fsync -= 1
        if self._error_at_fsync:
            self._error_at_fsync = False
            raise OSError(5, "Input/output error (simulated)")

    def _file(self, name: str) -> _File:
        if name not in self._names:
            raise FileNotFoundError(2, "No such file", self.describe(name))
        return self._files[self._names[name]]

    def _by_handle(self, handle: int) -> _File:
        if handle not in self._handles:
            raise OSError(9, "Bad file descriptor (simulated)")
        return self._files[self._handles[handle]]
