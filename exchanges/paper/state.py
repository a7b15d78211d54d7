"""Save and restore a paper venue between two paper runs (the "outside world" remembers).

A paper run that stops cleanly saves each venue (books, accounts, resting
orders, trade history, the liquidation model's state) so that the next run with
``--resume`` meets the same venue its WAL was written against, as a live run
meets the same exchange. The file is ours (written by this code, read by this
code): a header line (format, version, venue, market time) and the pickled
venue, written to a temporary file, fsynced, and renamed over the old one, so
a crash leaves the previous file or the new one, never half of one.

Only files this code wrote are read: pickle runs code from its input, so a
state file must never come from elsewhere. A file that is not ours, of another
version or venue, or cut short is reported (``DataFormatError`` naming it), never
half-loaded.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from core.errors import DataFormatError

FORMAT = "swarm-paper-venue"
VERSION = 2  # 2: resting orders carry their queue position


def save_venue(path: Path, venue_name: str, venue: Any, market_time_ns: int) -> int:
    """Write ``venue``'s state to ``path`` atomically and durably; return the bytes written."""
    header = json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "venue": venue_name,
            "market_time_ns": market_time_ns,
        }
    ).encode()
    body = pickle.dumps(venue, protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(header + b"\n")
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return len(header) + 1 + len(body)


def load_venue(path: Path, venue_name: str) -> tuple[Any, int]:
    """Read back what ``save_venue`` wrote for ``venue_name``; return (venue, market time)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(path, f"cannot read the saved paper venue: {exc.strerror}") from None
    head, sep, body = data.partition(b"\n")
    try:
        header = json.loads(head) if sep else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DataFormatError(path, "not a saved paper venue")
    if header.get("version") != VERSION:
        raise DataFormatError(
            path, f"saved by format version {header.get('version')}, not {VERSION}"
        )
    if header.get("venue") != venue_name:
        raise DataFormatError(path, f"holds venue {header.get('venue')!r}, not {venue_name!r}")
    try:
        venue = pickle.loads(body)
    except Exception as exc:
        raise DataFormatError(path, f"the saved venue is damaged: {type(exc).__name__}") from None
    return venue, int(header.get("market_time_ns", 0))
