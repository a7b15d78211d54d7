"""``main.py download``: bad input refused before any request; a run end to end over recordings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cli.download as cli_download
import main as entry
from core.clock import SimulatedClock
from core.errors import InvalidValue, NotSupported, UnknownSymbol
from exchanges.ccxt.history import parse_utc
from exchanges.feeds.replay import ReplayFeed
from tests.unit.exchanges.ccxt.recorded_venue import (
    RecordedVenue,
    binance_klines,
    binance_window,
    client_factory,
)

NOW = SimulatedClock(parse_utc("2025-01-01", "now") * 1_000_000)


def binance_stub() -> RecordedVenue:
    stub = RecordedVenue("binance")
    rows = binance_klines("swap ohlcv")
    stub.serve("GET", "/fapi/v1/klines", rows, lambda r: int(r[0]), binance_window)
    return stub


async def attempt(
    stub: RecordedVenue, built: list[dict[str, Any]], tmp_path: Path, **kw: Any
) -> Any:
    args: dict[str, Any] = {
        "venue": "binance",
        "symbols": ["BTC/USDT:USDT"],
        "kinds": ["ohlcv"],
        "timeframe": "1m",
        "since": "2024-04-10T08:41:00",
        "until": "2024-04-10T08:44:00",
        "out": tmp_path,
    }
    args.update(kw)
    return await cli_download.download(
        clock=NOW, client_factory=client_factory(stub, built), **args
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("bad", "error", "field", "value", "client_built"),
    [
        ({"venue": "kraken"}, InvalidValue, "venue", "kraken", False),
        ({"kinds": ["candles"]}, InvalidValue, "kinds", "candles", False),
        ({"since": "2024-13-01"}, InvalidValue, "since", "2024-13-01", False),
        ({"until": "2024-04-10T08:41:00"}, InvalidValue, "until", "2024-04-10T08:41:00Z", False),
        (
            {"since": "2025-02-01", "until": "2025-03-01"},
            InvalidValue,
            "since",
            "2025-02-01T00:00:00Z",
            False,
        ),
        ({"timeframe": "7m"}, InvalidValue, "timeframe", "7m", True),
        ({"symbols": ["NOPE/USDT:USDT"]}, UnknownSymbol, "symbol", "NOPE/USDT:USDT", True),
        ({"symbols": ["BTC/USDT"], "kinds": ["funding"]}, InvalidValue, "kinds", "funding", True),
    ],
)
async def test_download_when_bad_input_then_typed_error_before_any_request(
    tmp_path: Path,
    bad: dict[str, Any],
    error: type[InvalidValue],
    field: str,
    value: str,
    client_built: bool,
) -> None:
    stub, built = binance_stub(), list[dict[str, Any]]()

    with pytest.raises(error) as caught:
        await attempt(stub, built, tmp_path, **bad)

    assert (caught.value.field, caught.value.value) == (field, value)
    assert stub.sent == []
    assert bool(built) == client_built
    assert not list(tmp_path.iterdir())


@pytest.mark.asyncio
async def test_download_when_kind_not_offered_then_not_supported_before_any_request(
    tmp_path: Path,
) -> None:
    stub, built = binance_stub(), list[dict[str, Any]]()
    with pytest.raises(NotSupported, match="kinds='liquidations' on binance"):
        await attempt(stub, built, tmp_path, kinds=["liquidations"])
    assert (stub.sent, built) == ([], [])


@pytest.mark.asyncio
async def test_download_when_client_built_then_ccxt_rate_limiter_on(tmp_path: Path) -> None:
    stub, built = binance_stub(), list[dict[str, Any]]()
    await attempt(stub, built, tmp_path)
    assert [c["enableRateLimit"] for c in built] == [True]


def test_main_download_when_run_twice_then_writes_replayable_partitions_then_fetches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubs: list[RecordedVenue] = []

    def factory(ccxt_id: str, config: dict[str, Any]) -> Any:
        stubs.append(binance_stub())
        return client_factory(stubs[-1])(ccxt_id, config)

    monkeypatch.setattr(cli_download, "_default_factory", factory)
    monkeypatch.setattr(cli_download, "RealClock", lambda: NOW)
    argv = [
        "download", "--venue", "binance", "--symbols", "BTC/USDT:USDT", "--kinds", "ohlcv",
        "--timeframe", "1m", "--since", "2024-04-10T08:41:00", "--until", "2024-04-10T08:44:00",
        "--out", str(tmp_path), "--no-progress",
    ]  # fmt: skip

    assert entry.main(argv) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry.main(argv) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert [(s["rows"], s["requests"], s["gaps"]) for s in first["series"]] == [(3, 1, [])]
    assert [(s["rows"], s["requests"], s["fetched"]) for s in second["series"]] == [(0, 0, [])]
    assert [len(s.history_requests()) for s in stubs] == [1, 0]
    assert sum(1 for _ in ReplayFeed(tmp_path)) == 3
