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


def _wide_report() -> dict[str, Any]:
    row = {
        "total_return": -0.00312345678,
        "pnl": "-312345.6789",
        "sharpe": None,
        "sortino": None,
        "max_drawdown": 0.01234567,
        "profit_factor": 0.87654321,
        "cvar_95": -0.000123456,
        "turnover": 123.456789,
        "fees": "98765.4321",
        "funding": "-1234.5678",
        "ratio_note": "n/a: 23 returns < 30 (minimum sample)",
    }
    agents = {name: dict(row) for name in ("mm", "funding-arb", "liq-hunter", "mm--wide")}
    return {"mode": "backtest", "data_dir": "data/x", "agents": agents, "total": dict(row)}


def test_print_table_when_80_columns_then_every_figure_whole_and_ratios_na_with_reason() -> None:
    from rich.console import Console

    from cli.backtest import figure_tables, ratio_notes

    report = _wide_report()
    console = Console(width=80, record=True, color_system=None)
    for table in figure_tables(report, 80):
        console.print(table)
    for line in ratio_notes(report):
        console.print(line)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for name in (*report["agents"], "total"):
        assert name in text
    assert text.count("-312,345.68") == 5 and text.count("98,765.43") == 5
    assert text.count("n/a") >= 10  # Sharpe and Sortino of every row
    assert "Sharpe, Sortino n/a: 23 returns < 30 (minimum sample)" in " ".join(text.split())
