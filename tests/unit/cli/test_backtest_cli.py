"""main.py backtest: writes its HTML report; the same seed and data give the same report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import main

ROOT = Path(__file__).resolve().parents[3]
PAPER = str(ROOT / "configs" / "paper.toml")


def _backtest(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, Any]:
    html = tmp_path / f"{name}.html"
    code = main.main(["backtest", "--config", PAPER, "--json", "--html", str(html), *extra])
    report: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert report["html"] == str(html)
    return report


def test_backtest_when_run_twice_with_a_seed_then_same_report_and_html_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _backtest(tmp_path, "a", capsys, "--seed", "11", "--walk-forward", "3")
    second = _backtest(tmp_path, "b", capsys, "--seed", "11", "--walk-forward", "3")
    for report in (first, second):
        for key in ("elapsed_s", "events_per_s", "html"):
            report.pop(key)
    assert first == second
    assert first["seed"] == 11 and first["events"] == 3345
    assert set(first["agents"]) == {"mm", "funding-arb", "liq-hunter"}
    for figure in (
        "total_return",
        "sharpe",
        "sortino",
        "max_drawdown",
        "profit_factor",
        "cvar_95",
        "turnover",
        "fees",
        "funding",
    ):
        assert figure in first["total"]
    assert first["agents"]["mm"]["traded_notional"] != "0"  # a report of an idle run proves nothing
    assert len(first["folds"]) == 3
    assert first["folds"][0]["start_ns"] == first["total"]["start_ns"]
    assert first["folds"][-1]["end_ns"] == first["total"]["end_ns"]
    page = (tmp_path / "a.html").read_text()
    assert page.count("<svg") == 4 and "Fold 3" in page and "https://" not in page
    assert page == (tmp_path / "b.html").read_text()  # the page is deterministic too


def test_backtest_when_walk_forward_negative_then_clear_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main.main(["backtest", "--config", PAPER, "--walk-forward", "-1"]) == 2
    assert "--walk-forward" in capsys.readouterr().err
