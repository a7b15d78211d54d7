"""The normalized recording format: exact round trips, ordering, versioning, and every way to be bad."""

from __future__ import annotations

import os
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from core.errors import DataFormatError, InvalidValue
from core.events import (
    Bar,
    BookDelta,
    FundingEvent,
    GapEvent,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
)
from exchanges.feeds import normalized
from exchanges.feeds.normalized import read_events, read_metadata, write_events

T0 = 1_723_161_255_030_000_000

EVERY_KIND: list[MarketEvent] = [
    BookDelta(
        T0,
        "binance",
        "BTC/USDT:USDT",
        ((D("61234.10"), D("1.500")), (D("61234.0"), D("0E-8"))),
        ((D("61234.2"), D("0.001")),),
        snapshot=True,
        sequence=2**63 - 1,
    ),
    BookDelta(T0 + 1, "binance", "BTC/USDT:USDT", (), ((D("61235"), D("0")),)),
    TopOfBook(T0 + 2, "bybit", "BTC/USDT", D("1E+3"), D("2.50"), D("1000.5"), D("0.000000001")),
    TradeTick(T0 + 3, "okx", "BTC/USDT", D("73239.3"), D("0.0009478"), "sell", "497859870"),
    TradeTick(T0 + 4, "okx", "BTC/USDT", D("1"), D("1"), "buy", None),
    Bar(
        T0 + 5,
        "bybit",
        "BTC/USDT",
        D("17000.5"),
        D("17100"),
        D("16900.25"),
        D("17050.00"),
        D("12.345"),
        60,
    ),
    FundingEvent(T0 + 6, "bybit", "BTC/USDT:USDT", D("-0.00046295"), D("8"), D("51444.40")),
    FundingEvent(T0 + 7, "hyperliquid", "BTC/USDC:USDC", D("0.0000125"), D("1")),
    MarkEvent(
        T0 + 8,
        "bybit",
        "BTC/USDT:USDT",
        D("68591.46"),
        D("68599.90"),
        D("0.0001"),
        1_730_736_000_000_000_000,
        D("69604.924"),
    ),
    MarkEvent(T0 + 9, "bybit", "ETH/USDT:USDT", None),
    Liquidation(T0 + 10, "binance", "ETH/USDT:USDT", "buy", D("2500.01"), D("3.2"), "recorded"),
    Liquidation(T0 + 11, "binance", "ETH/USDT:USDT", "sell", D("2400"), D("1"), "model"),
    GapEvent(T0 + 12, "binance", "BTC/USDT:USDT", "sequence jumped: résumé ✓", expected=10, got=12),
    GapEvent(T0 + 13, "binance", "BTC/USDT:USDT", "socket reconnected"),
    TradeTick(
        T0 + 14,
        "bybit",
        "BTC/USDT",
        D("123456789012345678901234567890.123456789"),
        D("-0"),
        "buy",
        "x",
    ),
]


def test_read_events_when_written_then_every_kind_round_trips_exactly(tmp_path: Path) -> None:
    path = tmp_path / "all.swarm.parquet"

    assert write_events(path, EVERY_KIND) == len(EVERY_KIND)
    back = list(read_events(path))

    assert back == EVERY_KIND
    # exact means the same digits and exponent, not just equal values
    assert [repr(e) for e in back] == [repr(e) for e in EVERY_KIND]


def test_read_events_when_under_hive_style_folders_then_own_columns_kept(tmp_path: Path) -> None:
    """Folders named like columns (``symbol=``, ``venue=``) must not overwrite the file's own."""
    folder = tmp_path / "venue=elsewhere" / "symbol=OTHER" / "kind=x"
    folder.mkdir(parents=True)
    path = folder / "all.swarm.parquet"
    write_events(path, EVERY_KIND)
    assert list(read_events(path)) == EVERY_KIND


def test_read_events_when_written_out_of_order_then_sorted_by_time_and_ties_keep_input_order(
    tmp_path: Path,
) -> None:
    a = TradeTick(T0 + 5, "v", "S", D("1"), D("1"), "buy", "a")
    b = TradeTick(T0, "v", "S", D("2"), D("1"), "buy", "b")
    c = TradeTick(T0 + 5, "v", "S", D("3"), D("1"), "buy", "c")
    d = BookDelta(T0 + 5, "v", "S", (), (), snapshot=True)
    path = tmp_path / "order.swarm.parquet"

    write_events(path, [a, b, c, d])

    assert list(read_events(path)) == [b, a, c, d]


def test_read_events_when_more_rows_than_a_batch_then_all_come_back_in_order(
    tmp_path: Path,
) -> None:
    events = [TradeTick(T0 + i, "v", "S", D(i), D("0.1"), "sell", str(i)) for i in range(20_000)]
    path = tmp_path / "big.swarm.parquet"
    write_events(path, reversed(events))

    assert list(read_events(path)) == events


def test_write_events_when_no_events_then_valid_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.swarm.parquet"

    assert write_events(path, []) == 0
    assert list(read_events(path)) == []


def test_read_metadata_when_caller_gave_metadata_then_it_sits_beside_the_format_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "meta.swarm.parquet"
    write_events(
        path, EVERY_KIND[:1], metadata={"source": "ccxt binance", "note": 'it\'s "quoted"'}
    )

    metadata = read_metadata(path)

    assert metadata["source"] == "ccxt binance"
    assert metadata["note"] == 'it\'s "quoted"'
    assert metadata[normalized.VERSION_KEY] == str(normalized.FORMAT_VERSION)


def test_write_events_when_metadata_key_is_reserved_then_invalid_value(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="reserved"):
        write_events(tmp_path / "x.swarm.parquet", [], metadata={"swarm.format_version": "9"})


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (TradeTick(T0, "v", "S", 1.5, D("1"), "buy"), "price"),  # type: ignore[arg-type]
        (TradeTick(T0, "v", "S", D("NaN"), D("1"), "buy"), "price"),
        (BookDelta(T0, "v", "S", ((D("1"), D("Infinity")),), ()), "bids"),
        (BookDelta(T0, "v", "S", (), (), sequence=2**63), "sequence"),
        (MarkEvent(T0, "v", "S", None, next_funding_ns=True), "next_funding_ns"),
    ],
)
def test_write_events_when_a_value_cannot_be_stored_exactly_then_invalid_value_and_old_file_kept(
    tmp_path: Path, event: MarketEvent, field: str
) -> None:
    path = tmp_path / "keep.swarm.parquet"
    write_events(path, EVERY_KIND[:2])

    with pytest.raises(InvalidValue, match=field):
        write_events(path, [EVERY_KIND[3], event])

    assert list(read_events(path)) == EVERY_KIND[:2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.swarm.parquet"]


def test_write_events_when_not_a_market_event_then_invalid_value(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="not a MarketEvent"):
        write_events(tmp_path / "x.swarm.parquet", ["trade"])  # type: ignore[list-item]


def test_write_events_when_done_then_file_and_directory_were_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(True)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_events(tmp_path / "s.swarm.parquet", EVERY_KIND[:1])

    assert len(synced) == 2  # the temporary file before the rename, the directory after


# -- READING BAD FILES ------------------------------------------------------------------


def write_raw(
    path: Path,
    rows: list[dict[str, Any]],
    *,
    kv: dict[str, str] | None = None,
    schema: pa.Schema = normalized.SCHEMA,
) -> None:
    """Write rows as they are (no validation), the way a foreign or broken writer would."""
    table = pa.Table.from_pylist(rows, schema=schema)
    kv = (
        {normalized.FORMAT_KEY: normalized.FORMAT_NAME, normalized.VERSION_KEY: "1"}
        if kv is None
        else kv
    )
    kv_sql = ", ".join(f"\"{k}\": '{v}'" for k, v in kv.items())
    with duckdb.connect() as con:
        con.register("rows", table)
        option = f", KV_METADATA {{{kv_sql}}}" if kv else ""
        con.execute(f"COPY (SELECT * FROM rows) TO '{path}' (FORMAT parquet{option})")


def trade_row(ts: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "kind": "trade",
        "ts_ns": ts,
        "venue": "okx",
        "symbol": "BTC/USDT",
        "price": "100.5",
        "amount": "2",
        "side": "buy",
        "trade_id": str(ts),
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("bad", "names"),
    [
        ({"price": "abc"}, "price='abc'"),
        ({"price": "NaN"}, "price='NaN'"),
        ({"price": None}, "price=None"),
        ({"side": "up"}, "side='up'"),
        ({"venue": ""}, "venue=''"),
        ({"kind": "quote"}, "kind='quote'"),
        (
            {"kind": "book_delta", "bids": "[[1, 2]]", "asks": "[]", "snapshot": True},
            "bids.price=1",
        ),
        ({"kind": "book_delta", "bids": "{not json", "asks": "[]", "snapshot": True}, "not JSON"),
        ({"kind": "book_delta", "bids": '[["1"]]', "asks": "[]", "snapshot": True}, "pair"),
        ({"kind": "book_delta", "bids": "[]", "asks": "[]", "snapshot": None}, "snapshot=None"),
        (
            {"kind": "bar", "open": "1", "high": "1", "low": "1", "close": "1", "volume": "1"},
            "interval_s=None",
        ),
        ({"kind": "liquidation", "source": "guess"}, "source='guess'"),
    ],
)
def test_read_events_when_row_has_bad_value_then_data_format_error_names_file_row_and_field(
    tmp_path: Path, bad: dict[str, Any], names: str
) -> None:
    path = tmp_path / "bad.swarm.parquet"
    write_raw(path, [trade_row(T0), trade_row(T0 + 1), trade_row(T0 + 2, **bad), trade_row(T0 + 3)])
    events = read_events(path)

    assert next(events) == TradeTick(T0, "okx", "BTC/USDT", D("100.5"), D("2"), "buy", str(T0))
    next(events)
    with pytest.raises(DataFormatError) as caught:
        next(events)

    assert caught.value.path == str(path)
    assert caught.value.line == 3
    assert "row 3" in str(caught.value) and names in str(caught.value)


def test_read_events_when_row_has_bad_price_then_data_format_error(tmp_path: Path) -> None:
    path = tmp_path / "price.swarm.parquet"
    write_raw(path, [trade_row(T0, price="12,5")])

    with pytest.raises(
        DataFormatError, match=r"price.swarm.parquet:1: row 1 \(kind='trade'\): price='12,5'"
    ):
        list(read_events(path))


def test_read_events_when_file_is_not_parquet_then_data_format_error_names_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "junk.swarm.parquet"
    path.write_bytes(b"PAR1 this is not a parquet file at all")

    with pytest.raises(DataFormatError, match=r"junk\.swarm\.parquet: not a readable parquet file"):
        read_events(path)


def test_read_events_when_file_is_truncated_then_data_format_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.swarm.parquet"
    write_events(path, EVERY_KIND)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(DataFormatError, match=r"cut\.swarm\.parquet"):
        list(read_events(path))


def test_read_events_when_file_is_missing_then_data_format_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no such file"):
        read_events(tmp_path / "absent.swarm.parquet")


def test_read_events_when_parquet_has_no_swarm_metadata_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.swarm.parquet"
    write_raw(path, [trade_row(T0)], kv={})

    with pytest.raises(DataFormatError, match="not a Swarm events file"):
        read_events(path)


@pytest.mark.parametrize("version", ["2", "0", "1.0", "x"])
def test_read_events_when_format_version_is_unknown_then_refused_with_the_version(
    tmp_path: Path, version: str
) -> None:
    path = tmp_path / "future.swarm.parquet"
    write_raw(
        path,
        [trade_row(T0)],
        kv={normalized.FORMAT_KEY: normalized.FORMAT_NAME, normalized.VERSION_KEY: version},
    )

    with pytest.raises(DataFormatError, match=f"format version '{version}' is not supported"):
        read_events(path)


def test_read_events_when_a_column_is_missing_then_data_format_error_lists_it(
    tmp_path: Path,
) -> None:
    schema = pa.schema([f for f in normalized.SCHEMA if f.name != "trade_id"])
    path = tmp_path / "narrow.swarm.parquet"
    row = trade_row(T0)
    del row["trade_id"]
    write_raw(path, [row], schema=schema)

    with pytest.raises(DataFormatError, match=r"missing columns \['trade_id'\]"):
        read_events(path)


def test_read_events_when_a_money_column_is_double_then_refused(tmp_path: Path) -> None:
    schema = pa.schema(
        [pa.field("price", pa.float64()) if f.name == "price" else f for f in normalized.SCHEMA]
    )
    path = tmp_path / "float.swarm.parquet"
    write_raw(path, [trade_row(T0, price=100.5)], schema=schema)

    with pytest.raises(DataFormatError, match="price is DOUBLE, want VARCHAR"):
        read_events(path)
