"""``main.py sweep`` before any trial: the file checked, the stages planned, the report drawn."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cli.sweep import best_of, load_sweep, scenarios, total_trials
from core.errors import ConfigError
from sweep.html import render_html

ROOT = Path(__file__).resolve().parents[3]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sweep.toml"
    base = (ROOT / "configs" / "paper.toml").as_posix()
    path.write_text(f'[sweep]\nconfig = "{base}"\n{body}')
    return path


def test_load_when_default_file_then_checked_grid_of_at_least_eight_with_two_folds() -> None:
    spec, config, base = load_sweep(ROOT / "configs" / "sweep.toml")
    assert spec.agent in config.agents and base.endswith("paper.toml")
    assert len(list(spec.grid())) >= 8 and spec.walk_forward.folds >= 2


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('agent = "mm"\n[sweep.params]\ngamma_typo = [1.0]\n', "sweep.params.gamma_typo"),
        ('agent = "mm"\n[sweep.params]\ngamma = [0.1, -1.0]\n', "gamma"),
        ('agent = "mm"\n[sweep.params]\nrefresh_ticks = []\n', "refresh_ticks"),
        ('agent = "nobody"\n[sweep.params]\ngamma = [0.1]\n', "sweep.agent"),
        ('agent = "mm"\nfolds = 2\n[sweep.params]\ngamma = [0.1]\n', "folds"),
    ],
)
def test_load_when_bad_file_then_config_error_names_the_key(
    tmp_path: Path, body: str, named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_sweep(_write(tmp_path, body))


def test_load_when_other_table_then_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'agent = "mm"\n[sweep.params]\ngamma = [0.1]\n[paper]\nseed = 1\n')
    with pytest.raises(ConfigError, match="paper"):
        load_sweep(path)


def test_scenarios_when_all_on_then_base_first_and_shock_at_mid_span(tmp_path: Path) -> None:
    spec, _, _ = load_sweep(ROOT / "configs" / "sweep.toml")
    plan = scenarios(spec, 100, 300)
    assert plan[0].is_base and plan[0].name == "base"
    shocked = [p for p in plan if p.price_shock_bps]
    assert shocked and shocked[0].shock_ns == 200
    assert any(p.fee_multiplier == Decimal(2) for p in plan)
    assert any(p.funding_flip for p in plan) and any(p.latency_ns for p in plan)
    assert total_trials(spec, 2, len(plan)) == 8 * 3 + 2 + len(plan)


def test_best_when_ties_and_nan_then_first_highest_finite() -> None:
    rows = [{"score": 1.0, "id": 0}, {"score": float("nan"), "id": 1}, {"score": 1.0, "id": 2}]
    assert best_of(rows)["id"] == 0
    with pytest.raises(ValueError):
        best_of([])


def test_html_when_report_then_plots_tables_and_escaped_text() -> None:
    report = {
        "agent": "mm<script>",
        "search": "grid",
        "metric": "pnl",
        "note": "in-sample",
        "data_dir": "d",
        "nodes": ["n1", "n2"],
        "trials": [
            {
                "params": {"gamma": g},
                "score": s,
                "pnl": str(s),
                "fees": "1",
                "fills": 3,
                "node": "n1",
            }
            for g, s in ((0.1, -1.0), (0.5, 2.0))
        ],
        "best": {"params": {"gamma": 0.5}, "score": 2.0},
        "folds": [
            {
                "fold": 1,
                "train_start_ns": 0,
                "train_end_ns": 1,
                "test_start_ns": 2,
                "test_end_ns": 3,
                "params": {"gamma": 0.5},
                "in_sample_score": 2.0,
                "out_of_sample_score": -0.5,
            },
        ],
        "stress": [
            {"scenario": "base", "score": 2.0, "pnl": "2", "fees": "1", "fills": 3, "orders": 9}
        ],
        "best_equity": [[0, "100"], [60_000_000_000, "101"]],
    }
    page = render_html(report)
    assert "mm&lt;script&gt;" in page and "<script>" not in page
    assert page.count("<svg") == 2  # score vs gamma, the best run's equity
    assert "out-of-sample" in page and "-0.5000" in page
