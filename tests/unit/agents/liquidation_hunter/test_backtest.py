"""The backtest runs on the embedded data, fast, with finite figures."""

from __future__ import annotations

import json
import math
import time
from decimal import Decimal
from pathlib import Path

import pytest

from agents.liquidation_hunter import backtest

DATA = Path(__file__).resolve().parents[4] / "data" / "bybit-btcusdt-2022-12-13"
pytestmark = pytest.mark.skipif(not DATA.exists(), reason="embedded data missing")


def test_backtest_prints_one_json_line_with_finite_figures_within_ten_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    assert backtest.main(["--data", str(DATA), "--seed", "7"]) == 0
    assert time.monotonic() - started < 10
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for run in (report, report["loose_thresholds"]):
        for key in ("fees", "pnl", "max_drawdown"):
            assert Decimal(run[key]).is_finite()
        assert Decimal(run["max_drawdown"]) >= 0
        assert run["liquidations_modelled"] > 0
        for side in run["forward_returns"].values():
            for key, value in side.items():
                if key.endswith("_bps") and value is not None:
                    assert math.isfinite(value)


def test_loose_thresholds_trade_round_trips_that_never_flip_the_position() -> None:
    report = backtest.run(DATA, 7, backtest.loose_config())
    entries, fills = report["entries_placed"], report["fills"]
    assert isinstance(entries, int) and isinstance(fills, int)
    assert entries > 0 and fills > 0
    exits = report["exits"]
    assert isinstance(exits, dict)
    assert sum(exits.values()) == report["round_trips"]


def test_same_seed_gives_the_same_report() -> None:
    assert backtest.run(DATA, 3) == backtest.run(DATA, 3)


def test_explain_says_the_liquidations_are_modelled(capsys: pytest.CaptureFixture[str]) -> None:
    backtest.main(["--data", str(DATA), "--explain"])
    text = capsys.readouterr().out
    assert "MODELLED" in text and "momentum" in text


def test_figures_call_a_rise_after_long_liquidations_reversal_and_after_a_squeeze_momentum() -> (
    None
):
    side = {"count": 2, "5m_mean_bps": 3.0, "15m_mean_bps": 3.0, "60m_mean_bps": None}
    report: dict[str, object] = {
        "forward_returns": {"long_liquidations": side, "short_liquidations": side},
        "entries_placed": 0,
        "trades_opened": 0,
        "pnl": "0",
        "win_rate": None,
    }
    long_line, short_line = backtest.describe_figures(report).splitlines()[1:3]
    assert "+3.0 bps (reversal)" in long_line and "60 min: n/a" in long_line
    assert "+3.0 bps (momentum)" in short_line


# -- RECORDED LIQUIDATIONS: the synthetic Bybit v5 capture (tests/fixtures/liquidations) --

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "liquidations" / "bybit_v5_cascade"


def test_recorded_capture_when_replayed_then_model_off_and_each_print_counted_once() -> None:
    report = backtest.run(FIXTURE, 7, model=True)  # asked for the model: the data overrides
    assert report["liquidation_source"] == "recorded"
    assert report["liquidations_modelled"] == 0
    assert report["liquidations_counted"] == 30  # the capture's 30 allLiquidation items
    assert report["liquidation_repeats_dropped"] == 0 and report["model_prints_dropped"] == 0


def test_recorded_capture_when_replayed_then_one_cascade_with_every_ingredient() -> None:
    report = backtest.run(FIXTURE, 7)
    log = report["cascade_log"]
    assert isinstance(log, list) and len(log) == 1
    (entry,) = log
    assert entry["side"] == "sell"  # Bybit "Buy" = a long position liquidated: forced sells
    assert "OI drop 11.0 bp" in entry["text"] and "sigma" in entry["text"]
    assert entry["outcome"].startswith("entered: buy 0.500")
    assert all(v is not None for v in entry["mid_move_after"].values())


def test_explain_when_recorded_capture_then_says_what_followed_each_cascade(
    capsys: pytest.CaptureFixture[str],
) -> None:
    backtest.main(["--data", str(FIXTURE), "--explain"])
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if x.startswith("- ") and "UTC long" in x)
    assert "the hunter: entered: buy" in line
    assert "Then the mid: 5 min -111.1 bp (momentum)" in line
