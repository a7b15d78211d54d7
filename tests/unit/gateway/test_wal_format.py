from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidValue
from gateway.errors import WalCorruption
from gateway.wal_format import (
    HEADER_SIZE,
    MAGIC,
    FrameReader,
    RecordType,
    decode_payload,
    encode_payload,
    frame_record,
)
from tests.unit.gateway.support import exact


class Side(StrEnum):
    BUY = "buy"


# -- PAYLOAD CODEC ------------------------------------------------------------


def test_payload_when_flat_then_plain_json_with_decimal_keys_listed() -> None:
    data = encode_payload({"price": Decimal("65000.10"), "side": "buy", "n": 1})
    assert data == b'[{"price":"65000.10","side":"buy","n":1},["price"]]'
    assert encode_payload({"side": "buy"}) == b'{"side":"buy"}'


def test_payload_when_tuple_or_enum_then_comes_back_as_list_and_value() -> None:
    data = decode_payload(encode_payload({"pair": (Decimal("1.5"), 2), "side": Side.BUY}))
    assert exact(data) == exact({"pair": [Decimal("1.5"), 2], "side": "buy"})


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"price": 0.1}, "payload.price"),
        ({"price": Decimal("NaN")}, "payload.price"),
        ({"price": Decimal("Infinity")}, "payload.price"),
        ({"legs": [{"qty": Decimal("sNaN")}]}, "payload.legs[0].qty"),
        ({"when": object()}, "payload.when"),
        ({"a": [1, 2.5]}, "payload.a[1]"),
        ({1: "x"}, "payload"),
    ],
)
def test_payload_when_not_json_safe_then_refused_naming_the_path(
    payload: dict[Any, Any], field: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        encode_payload(payload)
    assert caught.value.field == field


JSON_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False)
)
KEYS = st.text(max_size=6)
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(KEYS, JSON_VALUE, max_size=6))
def test_payload_codec_when_any_json_safe_dict_then_round_trips_exactly(
    payload: dict[str, Any],
) -> None:
    assert exact(decode_payload(encode_payload(payload))) == exact(payload)


@pytest.mark.parametrize(
    "data",
    [b"[1, 2]", b'[{"a": "x"}, [["b"]]]', b'[{"a": 5}, [["a"]]]', b'[{"a": "x1"}, [["a"]]]', b"7"],
)
def test_payload_when_bytes_are_not_a_payload_then_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_payload(data)


# -- FRAMES -------------------------------------------------------------------


def test_frame_when_built_then_header_holds_sequence_type_and_length() -> None:
    frame = frame_record(7, RecordType.FILL, b"{}")
    assert frame[:4] == MAGIC
    assert len(frame) == HEADER_SIZE + 2
    assert list(FrameReader(frame, "seg", last_segment=False)) == [(0, 7, RecordType.FILL, b"{}")]


def test_frame_reader_when_tail_cut_in_middle_segment_then_corruption() -> None:
    data = (
        frame_record(1, RecordType.INTENT, b"{}") + frame_record(2, RecordType.INTENT, b"{}")[:-1]
    )
    with pytest.raises(WalCorruption, match="cut short"):
        list(FrameReader(data, "seg", last_segment=False))
    reader = FrameReader(data, "seg", last_segment=True)
    assert [seq for _, seq, _, _ in reader] == [1]
    assert reader.torn_at == HEADER_SIZE + 2
