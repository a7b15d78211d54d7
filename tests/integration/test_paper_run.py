"""The quick start's first command, end to end: Ray, the venue and feed actors, the embedded data."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_main(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "main.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_paper_when_embedded_data_at_max_speed_then_json_summary_last_line() -> None:
    result = run_main("--paper", "--no-tui", "--speed", "max", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["events"] > 2_000
    assert summary["books"] >= 2  # bybit spot and perp
    assert summary["gaps"] == 0
    assert summary["funding_events"] == 3  # the three recorded prints of 2022-12-13
    assert summary["conservation_errors"] == 0
    assert summary["stopped_by"] == "end of data"
    # The three agents ran through the gateway and the market maker quoted. (How many of its
    # quotes fill depends on how the agents' orders interleave with the venue's bars, which
    # the concurrent paper system does not fix; the backtest will.)
    assert set(summary["agents"]) == {"mm", "funding-arb", "liq-hunter"}
    assert all(a["errors"] == 0 and a["status"] == "stopped" for a in summary["agents"].values())
    assert summary["agents"]["mm"]["orders"] > 100
    for name, agent in summary["agents"].items():  # every agent trades or says why not
        assert agent["orders"] > 0 or agent["idle_reason"], (name, agent)
        assert not (agent["orders"] and agent["idle_reason"]), (name, agent)
    assert summary["gateway"]["breaker"] == "closed"
    counters = summary["gateway"]["counters"]
    assert counters["intents"] == counters["results"] == summary["gateway"]["orders"]
    # The audit store the gateway wrote equals a rebuild from its WAL alone, table by table.
    state = Path(summary["gateway"]["state_dir"])
    rebuilt = state / "rebuilt.duckdb"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.audit",
            "rebuild",
            "--wal",
            str(state / "wal"),
            "--db",
            str(rebuilt),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts = json.loads(done.stdout.strip().splitlines()[-1])["tables"]
    import duckdb

    with duckdb.connect(str(state / "audit.duckdb"), read_only=True) as live:
        for table, count in counts.items():
            assert live.execute(f"select count(*) from {table}").fetchone() == (count,), table
    assert counts["wal_records"] == summary["gateway"]["wal_records"]
    # After the run, its report shows no agent at weight 0 without a council vote naming it.
    done = subprocess.run(
        [sys.executable, "main.py", "report", "--json", "--db", str(state / "audit.duckdb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["weights"], "the run's budgets left no weight history"
    for entry in report["weights"]:
        for agent, weight in entry["weights"].items():
            if weight == 0:
                named = [
                    v
                    for d in report["council"]
                    if d["ts_ns"] <= entry["ts_ns"]
                    for v in d["votes"]
                    if v["agent"] == agent
                ]
                assert named, f"{agent} at weight 0 at {entry['ts_ns']} with no vote naming it"


def test_paper_when_binance_books_then_rebuilt_books_and_counts() -> None:
    result = run_main(
        "--paper", "--no-tui", "--json", "--data", "data/binance-2024-08-08/hftbacktest/spot"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["books"] >= 2
    assert summary["book_updates"] > 50_000
    assert summary["conservation_errors"] == 0


@pytest.mark.parametrize(
    "content",
    [b"not gzip at all", gzip.compress(b'123 {"stream": "btcusdt@trade", "data": {')[:-8]],
)
def test_paper_when_data_file_corrupt_then_exit_2_and_file_named(
    tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "btcusdt_20240808.gz"
    bad.write_bytes(content)
    result = run_main("--paper", "--no-tui", "--json", "--data", str(tmp_path))
    assert result.returncode == 2
    assert "btcusdt_20240808.gz" in result.stderr
    assert "Traceback" not in result.stderr


def test_paper_when_data_dir_missing_then_exit_2_and_named() -> None:
    result = run_main("--paper", "--no-tui", "--data", "no/such/dir")
    assert result.returncode == 2
    assert "no/such/dir" in result.stderr
