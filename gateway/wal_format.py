"""The write-ahead log's record format: payload codec, frame layout, frame reader.

Frame layout
    Each record is one frame, little-endian::

        0  4  magic b"SWAL"
        4  4  crc    zlib.crc32(bytes 8..end): the rest of the header and the payload
        8  4  hcrc   zlib.crc32(bytes 12..28): the header alone, so a flipped
                     length is never mistaken for a record cut short
        12 1  format version (1)
        13 1  record type (``RecordType``)
        14 2  reserved, 0
        16 4  payload length
        20 8  sequence number, 1, 2, 3, ... across segments
        28 .. payload: orjson bytes of a dict (``encode_payload``)

Payload
    A dict of str keys to JSON-safe values, written with orjson. A Decimal is
    written as its string (``str(value)``: digits, exponent and sign, read
    back exactly), and the payload then becomes ``[document, paths]`` where
    ``paths`` lists where each Decimal sits: a top-level key bare, a nested
    one as its path (``["price", ["legs", 0, "qty"]]``).
    The marker costs a reader nothing per plain value, and the document stays
    readable JSON for the audit projection. Floats are refused: money in the
    log is never a float.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import IntEnum
from typing import Any

import orjson

from core.errors import InvalidValue
from gateway.errors import WalCorruption

MAGIC = b"SWAL"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sIIBBHIQ")
HEADER_SIZE = HEADER.size  # 28
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024


class RecordType(IntEnum):
    """What a record says. The numbers are on disk: never renumber or reuse one."""

    INTENT = 1
    RESULT = 2
    FILL = 3
    CANCEL = 4
    ORDER_STATUS = 5
    BREAKER = 6
    BUDGET = 7
    RECONCILIATION = 8
    COUNCIL = 9
    CHECKPOINT = 100


# The version, type and reserved bytes read as one little-endian word, so the
# reader checks all three with one dict lookup: word -> RecordType.
_TYPE_BY_WORD = {FORMAT_VERSION | (int(t) << 8): t for t in RecordType}
_FAST_HEADER = struct.Struct("<4sIIIIQ")


# -- PAYLOAD CODEC ------------------------------------------------------------

_PathPart = str | int


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Return ``payload`` as orjson bytes, with the paths of its Decimals so they come back exact.

    Accept str keys and values that are None, bool, int, str (enums
    included), finite Decimal, list, tuple or such a mapping. Refuse floats
    (money is never a float here) and anything else with ``InvalidValue``
    naming the offending path. Tuples come back as lists.
    """
    if not isinstance(payload, Mapping):
        raise InvalidValue("payload", payload, "must be a mapping of str to JSON-safe values")
    decimals: list[str | list[_PathPart]] = []
    document: Any = payload
    # Fast path for the common flat dict of plain values and Decimals: no copy;
    # anything else (nesting, enums, floats, odd keys) takes the careful walk.
    if type(payload) is dict:
        for key, item in payload.items():
            kind = type(item)
            if kind is str or kind is int or kind is bool or item is None:
                continue
            if kind is Decimal and type(key) is str and item.is_finite():
                decimals.append(key)
                continue
            decimals = []
            document = _to_json(payload, (), decimals)
            break
    else:
        document = _to_json(payload, (), decimals)
    try:
        return orjson.dumps([document, decimals] if decimals else document, default=_plain_str)
    except orjson.JSONEncodeError as exc:
        raise InvalidValue("payload", payload, f"not encodable: {exc}") from None


def _plain_str(value: Any) -> str:
    # Reached only for the top-level Decimals the fast path has checked.
    if type(value) is Decimal:
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a JSON-safe payload value")


def decode_payload(data: bytes) -> dict[str, Any]:
    """Return the dict ``encode_payload`` was given, every Decimal restored exactly.

    Raise ``ValueError`` if ``data`` is not such a payload.
    """
    value = orjson.loads(data)
    if type(value) is dict:
        return value
    return revive_decimals(value)


def revive_decimals(value: Any) -> dict[str, Any]:
    """Turn a parsed ``[document, paths]`` payload into the document with its Decimals."""
    try:
        document, decimals = value
        if type(document) is not dict:
            raise TypeError("the document is not an object")
        for path in decimals:
            if type(path) is str:  # a top-level key, the common case, stored bare
                parent: Any = document
                key: _PathPart = path
            else:
                parent = document
                for step in path[:-1]:
                    parent = parent[step]
                key = path[-1]
            text = parent[key]
            if type(text) is not str:
                raise TypeError(f"a Decimal is stored as a string, not {text!r}")
            parent[key] = Decimal(text)
    except (TypeError, ValueError, LookupError, ArithmeticError) as exc:
        raise ValueError(f"not a payload: {exc}") from None
    return document


def _to_json(value: Any, path: tuple[_PathPart, ...], decimals: list[str | list[_PathPart]]) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is Decimal or isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidValue(_dotted(path), value, "a Decimal in the log must be finite")
        top = path[0] if len(path) == 1 else None
        decimals.append(top if isinstance(top, str) else list(path))
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:  # orjson writes only exact str keys
                raise InvalidValue(_dotted(path), key, "payload keys must be str")
            out[key] = _to_json(item, (*path, key), decimals)
        return out
    if kind is list or kind is tuple:
        return [_to_json(item, (*path, i), decimals) for i, item in enumerate(value)]
    if isinstance(value, str | int):  # enums and other subclasses: orjson writes their value
        return value
    if isinstance(value, float):
        raise InvalidValue(_dotted(path), value, "floats are not accepted in the log; use Decimal")
    raise InvalidValue(_dotted(path), value, f"{kind.__name__} is not a JSON-safe payload value")


def _dotted(path: tuple[_PathPart, ...]) -> str:
    text = "payload"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


# -- FRAMING ------------------------------------------------------------------

_META = struct.Struct("<BBHIQ")


def frame_record(seq: int, record_type: RecordType, payload: bytes) -> bytes:
    """Return one framed record (header with both checksums, then ``payload``)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidValue("payload", f"{len(payload)} bytes", f"above {MAX_PAYLOAD_BYTES}")
    meta = _META.pack(FORMAT_VERSION, record_type, 0, len(payload), seq)
    checked = struct.pack("<I", zlib.crc32(meta)) + meta
    crc = zlib.crc32(payload, zlib.crc32(checked))  # continued: one checksum over both
    return MAGIC + struct.pack("<I", crc) + checked + payload


class FrameReader:
    """Iterate (offset, seq, type, payload) over the valid frames of one segment.

    A bad frame raises ``WalCorruption``, except a torn tail: at most one
    incomplete frame at the very end of the last segment (fewer bytes than a
    header, or a sound header whose record runs past the end of the file).
    Then iteration stops and ``torn_at`` holds its offset. A complete last
    frame whose checksum fails, or zeros the size of a header or more, are not
    torn: they can hide committed records, so they halt and nothing is cut.
    """

    def __init__(self, data: bytes, path: str, *, last_segment: bool) -> None:
        self._data = data
        self._path = path
        self._last_segment = last_segment
        self.torn_at: int | None = None

    def __iter__(self) -> Iterator[tuple[int, int, RecordType, bytes]]:
        data = self._data
        view = memoryview(data)
        size = len(data)
        offset = 0
        unpack = _FAST_HEADER.unpack_from
        crc32 = zlib.crc32
        types = _TYPE_BY_WORD
        while offset < size:
            if size - offset >= HEADER_SIZE:
                magic, crc, _, word, length, seq = unpack(data, offset)
                end = offset + HEADER_SIZE + length
                # One checksum over header and payload proves the frame; the
                # header's own checksum only matters to classify a bad one.
                if magic == MAGIC and end <= size and crc32(view[offset + 8 : end]) == crc:
                    record_type = types.get(word)
                    if record_type is None:
                        raise WalCorruption(self._path, offset, seq, _bad_word(word))
                    yield offset, seq, record_type, data[offset + HEADER_SIZE : end]
                    offset = end
                    continue
            self._check_torn_tail(offset)
            self.torn_at = offset
            return

    def _check_torn_tail(self, offset: int) -> None:
        """Return if the bad frame at ``offset`` is a torn tail; else raise ``WalCorruption``."""
        data = self._data
        size = len(data)
        seq: int | None = None
        if size - offset < HEADER_SIZE:
            # Too short to hold a record: whatever it is, no committed record is in it.
            cut_short, reason = True, "incomplete header"
        else:
            magic, _, hcrc, _, _, _, length, seq = HEADER.unpack_from(data, offset)
            end = offset + HEADER_SIZE + length
            if _all_zeros(data, offset):
                cut_short, seq = False, None
                reason = (
                    f"{size - offset} zero bytes to the end of the segment: records the disk "
                    "lost (a file grown before its data was written) or wiped; nothing was cut"
                )
            elif magic != MAGIC:
                cut_short, reason, seq = False, "bad magic", None
            elif zlib.crc32(data[offset + 12 : offset + HEADER_SIZE]) != hcrc:
                cut_short, reason, seq = False, "header checksum mismatch", None
            elif end > size:
                cut_short, reason = True, f"record of {length} bytes cut short"
            else:
                # A complete frame with a bad payload was written whole: damage, not a tear.
                cut_short, reason = False, "checksum mismatch"
        if self._last_segment and cut_short:
            return
        raise WalCorruption(self._path, offset, seq, reason)


def _bad_word(word: int) -> str:
    version, code, reserved = word & 0xFF, (word >> 8) & 0xFF, word >> 16
    if version != FORMAT_VERSION or reserved != 0:
        return f"unsupported format version {version}"
    return f"unknown record type {code}"


def _all_zeros(data: bytes, start: int) -> bool:
    return data.count(0, start) == len(data) - start
