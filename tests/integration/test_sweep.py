"""``main.py sweep`` in the test session's Ray: Tune runs the trials, folds and stress."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

from cli.sweep import load_sweep, run_sweep
from tests.integration.test_cluster import small_sweep


def test_sweep_when_grid_then_trials_best_folds_and_stress_reported(
    ray_session: str, tmp_path: Path
) -> None:
    spec, config, base = load_sweep(small_sweep(tmp_path, trials=2))
    report = run_sweep(spec, config, base, storage=str(tmp_path / "tune"))
    trials = report["trials"]
    assert sorted(t["params"]["gamma"] for t in trials) == [0.05, 0.1]
    assert all(math.isfinite(t["score"]) and t["fills"] >= 0 for t in trials)
    assert report["best"]["score"] == max(t["score"] for t in trials)
    (fold,) = report["folds"]
    assert fold["train_end_ns"] < fold["test_start_ns"]
    assert fold["params"]["gamma"] in (0.05, 0.1)
    assert fold["out_of_sample_score"] == fold["out_of_sample"]["score"]
    base_run, doubled = report["stress"]
    assert base_run["scenario"] == "base" and doubled["scenario"] == "fees x2"
    assert base_run["score"] == report["best"]["score"]  # the same run, replayed
    assert Decimal(doubled["fees"]) == 2 * Decimal(base_run["fees"])
    assert report["best_equity"] and report["nodes"]
