"""Funding history files: the normalized parquet history and Hyperliquid's fundingHistory JSON.

Parquet (one venue per file): ``venue, venue_symbol, canonical_symbol
(BTC-USDT-PERP), settlement_ts (UTC), rate_raw, interval_hours, is_predicted,
contract_type (linear|inverse), mark_price, ...``. Rates are doubles; each becomes
the Decimal of its shortest repr (``1e-05`` -> ``0.00001``), which is the value
the venue published. Rows flagged ``is_predicted`` are forecasts, not
settlements: they are counted and left out. Rows missing a rate, a time or an
interval cannot be emitted without guessing: they are counted as
``skipped_invalid`` with the reason, and logged.

Hyperliquid JSON: ``[{coin, fundingRate, premium, time(ms)}, ...]`` hourly, for
the USDC-settled perpetual ``<COIN>/USDC:USDC``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from core.clock import NS_PER_MS
from core.errors import DataFormatError
from core.events import FundingEvent, MarketEvent
from exchanges.feeds.replay_base import (
    BadValue,
    ReadContext,
    decimal_from_double,
    signed_decimal,
)
from exchanges.feeds.replay_stats import (
    ReplayFile,
)

FORMAT_PARQUET = "funding_parquet"
FORMAT_HYPERLIQUID = "hyperliquid_funding"

_log = logging.getLogger(__name__)

_REQUIRED = frozenset(
    {
        "venue",
        "canonical_symbol",
        "settlement_ts",
        "rate_raw",
        "interval_hours",
        "is_predicted",
        "contract_type",
        "mark_price",
    }
)
_FETCH = 20_000
_ONE_HOUR = Decimal(1)


def _connect() -> Any:
    import duckdb  # imported here: only replays with parquet files pay for it

    return duckdb.connect(":memory:")


def _unified(canonical: str, contract_type: str) -> str:
    """Map ``BTC-USDT-PERP`` (linear) to ``BTC/USDT:USDT``; inverse settles in the base."""
    parts = canonical.split("-")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise BadValue(f"cannot read canonical symbol {canonical!r}")
    base, quote, kind = parts
    if contract_type == "linear":
        symbol = f"{base}/{quote}:{quote}"
    elif contract_type == "inverse":
        symbol = f"{base}/{quote}:{base}"
    else:
        raise BadValue(f"unknown contract_type {contract_type!r} for {canonical}")
    if kind == "PERP":
        return symbol
    if kind.isdigit():
        return f"{symbol}-{kind}"
    raise BadValue(f"cannot read canonical symbol {canonical!r}")


def _parquet_symbols(con: Any, path: Path) -> dict[tuple[str, str], str]:
    rows = con.execute(
        "SELECT DISTINCT canonical_symbol, contract_type "
        "FROM read_parquet($1, hive_partitioning = false)",
        [str(path)],
    ).fetchall()
    out: dict[tuple[str, str], str] = {}
    for canonical, contract_type in rows:
        try:
            out[(canonical, contract_type)] = _unified(str(canonical), str(contract_type))
        except BadValue as e:
            raise DataFormatError(path, str(e)) from None
    return out


def describe_parquet(path: Path) -> ReplayFile:
    """Describe a funding parquet file; raise DataFormatError if it is not one."""
    import duckdb

    con = _connect()
    try:
        rel = con.read_parquet(str(path), hive_partitioning=False)
        missing = _REQUIRED - set(rel.columns)
        if missing:
            raise DataFormatError(path, f"not a funding history: missing columns {sorted(missing)}")
        venues = [
            v
            for (v,) in con.execute(
                "SELECT DISTINCT venue FROM read_parquet($1, hive_partitioning = false)",
                [str(path)],
            ).fetchall()
        ]
        symbols = _parquet_symbols(con, path)
    except duckdb.Error as e:
        raise DataFormatError(path, f"not a readable parquet file: {e}") from None
    finally:
        con.close()
    if len(venues) != 1 or not isinstance(venues[0], str) or not venues[0]:
        raise DataFormatError(path, f"expected one venue per file, found {venues}")
    return ReplayFile(path, FORMAT_PARQUET, venues[0].lower(), tuple(sorted(set(symbols.values()))))


def read_parquet(file: ReplayFile, ctx: ReadContext) -> Iterator[MarketEvent]:
    """Yield the settlements of a funding parquet file in time order."""
    import duckdb

    path = file.path
    c = ctx.counters
    venue = file.venue
    con = _connect()
    try:
        symbols = _parquet_symbols(con, path)
        wanted = [
            canonical
            for (canonical, _), symbol in symbols.items()
            if ctx.accept is None or ctx.accept(symbol)
        ]
        cursor = con.execute(
            "SELECT canonical_symbol, contract_type, epoch_ns(settlement_ts), rate_raw, "
            "interval_hours, is_predicted, mark_price "
            "FROM read_parquet($1, hive_partitioning = false) "
            "WHERE list_contains($2, canonical_symbol) "
            "ORDER BY 3, canonical_symbol",
            [str(path), wanted],
        )
        invalid: dict[str, int] = {}
        while rows := cursor.fetchmany(_FETCH):
            c.messages += len(rows)
            for canonical, contract_type, ts, rate, interval, predicted, mark in rows:
                if predicted:
                    c.skipped_predicted += 1
                    continue
                try:
                    if ts is None or rate is None or interval is None:
                        raise BadValue("row without settlement_ts, rate_raw or interval_hours")
                    interval_hours = decimal_from_double(interval, "interval_hours")
                    if interval_hours <= 0:
                        raise BadValue(f"interval_hours {interval_hours} must be > 0")
                    mark_price = None if mark is None else decimal_from_double(mark, "mark_price")
                    if mark_price is not None and mark_price <= 0:
                        raise BadValue(f"mark_price {mark_price} must be > 0")
                    event = FundingEvent(
                        ts,
                        venue,
                        symbols[(canonical, contract_type)],
                        decimal_from_double(rate, "rate_raw"),
                        interval_hours,
                        mark_price,
                    )
                except BadValue as e:
                    reason = f"funding parquet: {e}"
                    invalid[reason] = invalid.get(reason, 0) + 1
                    c.skipped_invalid += 1
                    c.ignore(reason)
                    continue
                c.funding_events += 1
                yield event
    except duckdb.Error as e:
        raise DataFormatError(path, f"cannot read the parquet file: {e}") from None
    finally:
        con.close()
    for reason, n in invalid.items():
        _log.warning("%s: skipped %d row(s): %s", path, n, reason)


# -- HYPERLIQUID --------------------------------------------------------------


def sniff_hyperliquid(head: bytes) -> bool:
    """Tell whether a JSON file's first bytes look like a Hyperliquid fundingHistory list."""
    start = head.lstrip()
    return start.startswith(b"[") and b'"fundingRate"' in head and b'"coin"' in head


def _load_hyperliquid(path: Path) -> list[dict[str, Any]]:
    try:
        records = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise DataFormatError(path, f"not valid JSON: {e}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataFormatError(path, "expected a JSON list of funding records")
    return records


def describe_hyperliquid(path: Path) -> ReplayFile:
    """Describe a Hyperliquid fundingHistory file by the coins it holds."""
    records = _load_hyperliquid(path)
    coins = sorted({str(r.get("coin", "")) for r in records})
    if not records or "" in coins:
        raise DataFormatError(path, "funding records without a coin (or no records)")
    return ReplayFile(
        path, FORMAT_HYPERLIQUID, "hyperliquid", tuple(f"{c}/USDC:USDC" for c in coins)
    )


def read_hyperliquid(file: ReplayFile, ctx: ReadContext) -> Iterator[MarketEvent]:
    """Yield one FundingEvent per hourly record, in time order."""
    path = file.path
    c = ctx.counters
    parsed: list[FundingEvent] = []
    for index, record in enumerate(_load_hyperliquid(path), 1):
        c.messages += 1
        try:
            coin = record["coin"]
            time_ms = record["time"]
            if type(coin) is not str or not coin:
                raise BadValue(f"coin must be a name, got {coin!r}")
            if type(time_ms) is not int or time_ms <= 0:
                raise BadValue(f"time must be epoch milliseconds, got {time_ms!r}")
            rate = signed_decimal(record["fundingRate"])
        except KeyError as e:
            raise DataFormatError(path, f"record {index}: missing field {e.args[0]!r}") from None
        except BadValue as e:
            raise DataFormatError(path, f"record {index}: {e}") from None
        symbol = f"{coin}/USDC:USDC"
        if ctx.accept is not None and not ctx.accept(symbol):
            continue
        parsed.append(
            FundingEvent(time_ms * NS_PER_MS, "hyperliquid", symbol, rate, _ONE_HOUR, None)
        )
    # The API answers in time order; sorting (stable) only guards the merge.
    parsed.sort(key=lambda e: e.ts_ns)
    for event in parsed:
        c.funding_events += 1
        yield event
