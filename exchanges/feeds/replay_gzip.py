"""Gzip capture files read line by line, with decompression on a helper thread."""

from __future__ import annotations

import queue
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import DataFormatError

_CHUNK = 1 << 18  # compressed bytes per read: about 2 MB of text
_QUEUE_BLOCKS = 4


class _Gunzip:
    """Decompress a gzip file on a helper thread, one block at a time.

    zlib releases the GIL while it inflates, so decompression (a tenth of a
    capture's replay time) overlaps with parsing on a second core. The queue is
    bounded, and ``close`` stops the thread when the reader is abandoned.
    Items: decompressed bytes, then ``("end", intact)`` or ``("error", message)``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.blocks: queue.Queue[bytes | tuple[str, Any]] = queue.Queue(_QUEUE_BLOCKS)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"gunzip {path.name}", daemon=True)
        self.thread.start()

    def _put(self, item: bytes | tuple[str, Any]) -> bool:
        while not self.stop.is_set():
            try:
                self.blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        decoder = zlib.decompressobj(wbits=31)
        started = False
        try:
            with open(self.path, "rb") as f:
                while raw := f.read(_CHUNK):
                    while raw:
                        if decoder.eof:  # concatenated gzip members
                            decoder = zlib.decompressobj(wbits=31)
                        started = True
                        out = decoder.decompress(raw)
                        raw = decoder.unused_data if decoder.eof else b""
                        if out and not self._put(out):
                            return
        except zlib.error as e:
            self._put(("error", f"corrupt gzip data: {e}"))
            return
        except Exception as e:  # any failure must reach the reader, or it would wait forever
            self._put(("error", f"cannot read: {e!r}"))
            return
        if not started:
            self._put(("error", "empty file"))
        else:
            self._put(("end", decoder.eof))

    def __iter__(self) -> Iterator[bytes | tuple[str, Any]]:
        while True:
            item = self.blocks.get()
            yield item
            if isinstance(item, tuple):
                return

    def close(self) -> None:
        self.stop.set()


def gzip_line_chunks(path: Path) -> Iterator[list[bytes]]:
    """Yield the lines of a gzip file (without newlines) in lists, one per block.

    A truncated file (cut mid-write, no gzip trailer) raises ``DataFormatError``
    naming the line after the last complete one, after every complete line has
    been yielded: its cut final line is never silently dropped. A final line
    without a newline in an intact file is yielded (it parses or fails on its own).
    """
    gunzip = _Gunzip(path)
    tail = b""
    lines_out = 0
    try:
        for item in gunzip:
            if isinstance(item, tuple):
                kind, detail = item
                if kind == "error":
                    raise DataFormatError(path, detail, line=lines_out + 1 if lines_out else None)
                if not detail:
                    raise DataFormatError(
                        path,
                        "truncated gzip: the file ends before the end of its compressed "
                        "stream (cut mid-write); its last line is incomplete",
                        line=lines_out + 1,
                    )
                break
            lines = item.split(b"\n")
            lines[0] = tail + lines[0]
            tail = lines.pop()
            if lines:
                lines_out += len(lines)
                yield lines
    finally:
        gunzip.close()
    if tail.strip():
        yield [tail]


def gzip_head(path: Path, size: int = 1 << 16) -> bytes:
    """Return up to ``size`` decompressed bytes from the start of a gzip file."""
    try:
        with open(path, "rb") as f:
            raw = f.read(size)
        return zlib.decompressobj(wbits=31).decompress(raw, size)
    except zlib.error as e:
        raise DataFormatError(path, f"not a readable gzip file: {e}") from None
