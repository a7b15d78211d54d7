"""Bad recorded input: every case is a DataFormatError naming the file and the line, never a skip."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.errors import DataFormatError
from core.events import MarketEvent
from exchanges.feeds.replay import ReplayFeed

T0 = 1_723_161_255_000_000_000
SNAPSHOT = {"lastUpdateId": 100, "bids": [["10.0", "1"]], "asks": [["10.1", "1"]]}


def diff(U: int, u: int, pu: int, b: list[Any] | None = None) -> dict[str, Any]:
    data = {"e": "depthUpdate", "s": "BTCUSDT", "U": U, "u": u, "pu": pu, "b": b or [], "a": []}
    return {"stream": "btcusdt@depth@0ms", "data": data}


def capture_bytes(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def good_lines(n: int = 200) -> list[bytes]:
    lines = [f"{T0} ".encode() + orjson.dumps(SNAPSHOT)]
    for i in range(n):
        record = diff(100 + i, 100 + i, 99 + i, b=[[f"{9 + i % 7}.5", f"{i % 3}"]])
        lines.append(f"{T0 + i + 1} ".encode() + orjson.dumps(record))
    return lines


def write_capture(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "usdm" / "btcusdt_20240808.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(capture_bytes(lines)))
    return path


def fails(path: Path, **kwargs: Any) -> tuple[DataFormatError, list[MarketEvent]]:
    """Replay until the error; return it with the events that came before."""
    got: list[MarketEvent] = []
    with pytest.raises(DataFormatError) as info:
        for event in ReplayFeed(path, **kwargs):
            got.append(event)
    assert info.value.path == str(path)
    return info.value, got


# -- GZIP ---------------------------------------------------------------------


def test_truncated_gzip_names_the_cut_line_after_emitting_the_complete_ones(tmp_path: Path) -> None:
    lines = good_lines(3000)
    path = write_capture(tmp_path, lines)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # the recorder died mid-write
    error, got = fails(path)
    assert "truncated gzip" in error.reason
    assert error.line is not None and 1000 < error.line < len(lines)
    assert len(got) == error.line - 1  # every complete line was replayed, the cut one was not


def test_corrupt_gzip_is_an_error(tmp_path: Path) -> None:
    path = write_capture(tmp_path, good_lines(3000))
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    error, _ = fails(path)
    assert "gzip" in error.reason or "JSON" in error.reason


def test_not_gzip_at_all_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "btcusdt_20240808.gz"
    path.write_bytes(b"plain text, not gzip\n")
    with pytest.raises(DataFormatError, match="not a readable gzip file") as info:
        ReplayFeed(tmp_path)
    assert info.value.path == str(path)


# -- BINANCE RECORDS ----------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (
            orjson.dumps(diff(100, 101, 99) | {"data": {"e": "depthUpdate", "pu": 99}}),
            "missing field",
        ),
        (orjson.dumps(diff(100, 101, 99, b=[["NaN", "1"]])), "finite"),
        (orjson.dumps(diff(100, 101, 99, b=[["-10.0", "1"]])), "must be > 0"),
        (orjson.dumps(diff(100, 101, 99, b=[["0", "1"]])), "must be > 0"),
        (orjson.dumps(diff(100, 101, 99, b=[["10.0", "-1"]])), "must be >= 0"),
        (orjson.dumps(diff(100, 101, 99, b=[["10.0", "abc"]])), "not a number"),
        (orjson.dumps(diff(100, 101, 99, b=[[10.0, "1"]])), "decimal string"),
        (orjson.dumps(diff(100, 101, 99, b=[["10.0"]])), "malformed"),
        (orjson.dumps(diff(100, "101", 99)), "integer"),  # type: ignore[arg-type]
    ],
)
def test_bad_binance_record_names_file_and_line(
    tmp_path: Path, bad_line: bytes, reason: str
) -> None:
    lines = good_lines(5)
    lines.insert(4, f"{T0 + 4} ".encode() + bad_line)
    error, _ = fails(write_capture(tmp_path, lines))
    assert error.line == 5
    assert reason in error.reason


def test_bad_price_in_a_held_or_stale_diff_is_still_an_error(tmp_path: Path) -> None:
    bad = diff(1, 2, 0, b=[["Infinity", "1"]])  # before any snapshot: held, still checked
    path = write_capture(tmp_path, [f"{T0} ".encode() + orjson.dumps(bad)])
    error, _ = fails(path)
    assert error.line == 1 and "finite" in error.reason


def test_book_ticker_with_missing_or_bad_fields(tmp_path: Path) -> None:
    ticker = {"stream": "btcusdt@bookTicker", "data": {"b": "1", "B": "1", "a": "2"}}
    error, _ = fails(write_capture(tmp_path, [f"{T0} ".encode() + orjson.dumps(ticker)]))
    assert (error.line, error.reason) == (1, "missing field 'A'")
    trade = {"stream": "btcusdt@trade", "data": {"p": "1", "q": "0", "m": True, "t": 1}}
    error, _ = fails(write_capture(tmp_path, [f"{T0} ".encode() + orjson.dumps(trade)]))
    assert "amount is 0" in error.reason


def test_snapshot_level_with_zero_amount_is_an_error(tmp_path: Path) -> None:
    bad = {"lastUpdateId": 5, "bids": [["10", "0"]], "asks": []}
    error, _ = fails(write_capture(tmp_path, [f"{T0} ".encode() + orjson.dumps(bad)]))
    assert "amount 0" in error.reason


def test_receive_time_going_backwards_is_an_error(tmp_path: Path) -> None:
    lines = good_lines(3)
    lines.append(f"{T0 - 1} ".encode() + orjson.dumps(diff(103, 103, 102)))
    error, _ = fails(write_capture(tmp_path, lines))
    assert error.line == 5 and "backwards" in error.reason


def test_line_without_receive_time_is_an_error(tmp_path: Path) -> None:
    lines = good_lines(2)
    lines.append(orjson.dumps(diff(102, 102, 101)))
    error, _ = fails(write_capture(tmp_path, lines))
    assert error.line == 4


# -- CSV ----------------------------------------------------------------------


def write_lean(tmp_path: Path, text: str, kind: str = "trade") -> Path:
    folder = tmp_path / "crypto" / "bybit" / "minute" / "btcusdt"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"20221213_btcusdt_minute_{kind}.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("0,1,2,0.5,1.5,10\n60000,1,2,0.5,1.5\n", 2, "expected 6 columns, got 5"),
        ("0,1,2,0.5,1.5,10\n60000,1,2,x,1.5,3\n", 2, "not a number"),
        ("0,1,2,0.5,1.5,10\n60000,1,2,0.5,1.5,NaN\n", 2, "finite"),
        ("0,1,2,0.5,1.5,10\n0,1,2,0.5,1.5,3\n", 2, "not after"),
        ("0,1,2,0.5,3,10\n", 1, "inconsistent bar"),
        ("abc,1,2,0.5,1.5,10\n", 1, "invalid literal"),
    ],
)
def test_bad_lean_trade_row_names_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    error, _ = fails(write_lean(tmp_path, text))
    assert error.line == line and reason in error.reason


def test_bad_lean_quote_row_and_empty_side(tmp_path: Path) -> None:
    error, _ = fails(write_lean(tmp_path, "0,1,1,1,1,1,2,2,2,2\n", kind="quote"))
    assert (error.line, error.reason) == (1, "expected 11 columns, got 10")
    path = write_lean(tmp_path, "0,,,,,0,2,2,2,2,1\n60000,1,1,1,1,1,2,2,2,2,1\n", kind="quote")
    feed = ReplayFeed(path)
    assert len(list(feed)) == 1
    assert feed.stats.ignored == {"lean quote bar with an empty side": 1}


def test_bad_lean_funding_row(tmp_path: Path) -> None:
    folder = tmp_path / "cryptofuture" / "bybit" / "margin_interest"
    folder.mkdir(parents=True)
    path = folder / "btcusdt.csv"
    path.write_text("20221213 00:00:00,-0.0002\n2022121 08:00:00,0.1\n")
    error, _ = fails(path)
    assert error.line == 2


# -- JSON FILES ---------------------------------------------------------------


def test_bad_hyperliquid_record(tmp_path: Path) -> None:
    path = tmp_path / "fundingHistory_BTC.json"
    path.write_bytes(
        orjson.dumps([{"coin": "BTC", "fundingRate": "0.1", "time": 1}, {"coin": "BTC", "time": 2}])
    )
    error, _ = fails(path)
    assert "record 2: missing field 'fundingRate'" in error.reason


def test_bad_cryptofeed_frames(tmp_path: Path) -> None:
    header = {"t": "header", "format": 2, "exchange": "BYBIT", "config": {}}
    connect = {"t": "connect", "conn": "c", "ts": 1.0, "addr": "wss://x/v5/public/linear"}
    frame: dict[str, Any] = {
        "topic": "orderbook.1.BTCUSDT",
        "type": "snapshot",
        "data": {"s": "BTCUSDT", "b": [["1", "1"]], "a": [], "u": 5},
    }

    def write(records: list[Any]) -> Path:
        path = tmp_path / "BYBIT.jsonl.gz"
        path.write_bytes(gzip.compress(b"\n".join(orjson.dumps(r) for r in records) + b"\n"))
        return path

    recv = {"t": "recv", "conn": "c", "ts": 2.0, "data": "{oops"}
    error, _ = fails(write([header, connect, recv]))
    assert error.line == 3 and "not valid JSON" in error.reason
    recv = {"t": "recv", "conn": "other", "ts": 2.0, "data": orjson.dumps(frame).decode()}
    error, _ = fails(write([header, connect, recv]))
    assert error.line == 3 and "before its connect" in error.reason
    bad_frame = frame | {"data": frame["data"] | {"b": [["0", "1"]]}}
    recv = {"t": "recv", "conn": "c", "ts": 2.0, "data": orjson.dumps(bad_frame).decode()}
    error, _ = fails(write([header, connect, recv]))
    assert error.line == 3 and "must be > 0" in error.reason
    error, _ = fails(write([header, connect, {"t": "recv", "conn": "c", "data": "{}"}]))
    assert error.reason == "missing field 'ts'"
