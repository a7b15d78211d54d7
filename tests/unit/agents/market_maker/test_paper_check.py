"""paper_check: the A-S simulation's result against the paper's table, the CLI line, speed."""

from __future__ import annotations

import json
import time

import pytest

from agents.market_maker.paper_check import main, simulate

# Avellaneda & Stoikov (2008), gamma = 0.1 (see the module docstring for the caveats).
PAPER_GAMMA_01 = {
    "inventory": {"profit_mean": 62.94, "profit_std": 5.89, "q_mean": 0.10, "q_std": 2.80},
    "symmetric": {"profit_mean": 67.21, "profit_std": 13.43, "q_mean": -0.018, "q_std": 8.66},
}


def test_paper_check_at_gamma_01_matches_the_papers_table_within_monte_carlo_noise() -> None:
    results = simulate(gamma=0.1, paths=1000, seed=1)
    for name, paper in PAPER_GAMMA_01.items():
        ours = results[name]
        # Means: a few units (the std error is 0.2 / 0.4 here; the paper's own run had noise too).
        assert ours.profit_mean == pytest.approx(paper["profit_mean"], abs=3.5)
        assert ours.profit_std == pytest.approx(paper["profit_std"], rel=0.2)
        assert ours.q_mean == pytest.approx(paper["q_mean"], abs=0.6)
        assert ours.q_std == pytest.approx(paper["q_std"], rel=0.1)
    assert results["inventory"].spread == pytest.approx(1.49, abs=0.01)


@pytest.mark.parametrize("gamma", [0.01, 0.1, 0.5])
def test_inventory_strategy_has_lower_risk_than_the_symmetric_one(gamma: float) -> None:
    results = simulate(gamma=gamma, paths=500, seed=2)
    inventory, symmetric = results["inventory"], results["symmetric"]
    assert inventory.q_std < 0.7 * symmetric.q_std
    assert inventory.profit_std < 0.75 * symmetric.profit_std
    assert inventory.profit_mean < symmetric.profit_mean + 1.0  # risk control costs a little
    assert inventory.spread == symmetric.spread


def test_higher_gamma_holds_less_inventory() -> None:
    low = simulate(gamma=0.01, paths=500, seed=3)["inventory"]
    high = simulate(gamma=0.5, paths=500, seed=3)["inventory"]
    assert high.q_std < low.q_std


def test_paper_check_with_the_same_seed_gives_the_same_result() -> None:
    assert simulate(0.1, 200, 5) == simulate(0.1, 200, 5)
    assert simulate(0.1, 200, 5) != simulate(0.1, 200, 6)


def test_paper_check_command_prints_one_json_line_fast(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["--gamma", "0.1", "--paths", "500", "--seed", "1"]) == 0
    elapsed = time.perf_counter() - started
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["gamma"] == 0.1
    assert report["paths"] == 500
    keys = {"spread", "profit_mean", "profit_std", "q_mean", "q_std"}
    assert set(report) == {"gamma", "paths", "inventory", "symmetric"}
    assert set(report["inventory"]) == keys
    assert set(report["symmetric"]) == keys
    assert elapsed < 5.0
