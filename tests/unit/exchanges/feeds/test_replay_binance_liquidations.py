"""Binance captures: ``<symbol>@forceOrder`` frames replay as recorded liquidations.

The frames are the documented USDS-M example (tests/fixtures/liquidations/
documented_messages.json, which names its source) wrapped as the hftbacktest
collector writes a combined stream; the event time is the receive time, as for
every other stream of these captures.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from core.errors import DataFormatError
from core.events import Liquidation
from exchanges.feeds.replay import ReplayFeed
from tests.unit.exchanges.feeds.test_replay_binance_capture import T0, stamped, write_capture

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "liquidations"
MESSAGES: dict[str, Any] = json.loads((FIXTURE / "documented_messages.json").read_text())


def force_order(message: dict[str, Any]) -> dict[str, Any]:
    return {"stream": "btcusdt@forceOrder", "data": message}


def test_force_order_when_replayed_then_recorded_liquidations_at_receive_time(
    tmp_path: Path,
) -> None:
    path = write_capture(
        tmp_path / "usdm" / "btcusdt_20240808.gz",
        stamped(force_order(MESSAGES["binance_usdm"]), force_order(MESSAGES["binance_usdm_ccxt"])),
    )
    feed = ReplayFeed(path)
    events = list(feed)
    symbol = "BTC/USDT:USDT"
    assert events == [
        Liquidation(T0, "binance", symbol, "sell", D("9910"), D("0.014"), "recorded"),
        Liquidation(
            T0 + 1_000_000, "binance", symbol, "buy", D("34959.70"), D("1.437"), "recorded"
        ),
    ]
    assert feed.stats.as_dict()["liquidations"] == 2


def test_force_order_when_side_is_unknown_then_data_format_error_names_the_line(
    tmp_path: Path,
) -> None:
    message = json.loads(json.dumps(MESSAGES["binance_usdm"]))
    message["o"]["S"] = "LONG"
    path = write_capture(tmp_path / "usdm" / "btcusdt_20240808.gz", stamped(force_order(message)))
    with pytest.raises(DataFormatError, match=r"\.gz:1: liquidation S: .*'LONG'"):
        list(ReplayFeed(path))
