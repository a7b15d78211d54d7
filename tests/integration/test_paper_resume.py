"""Ctrl+C stops a paper run cleanly; a second run with --resume goes on from its WAL and venues."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
TOTAL_EVENTS = 3345  # the embedded CPI day


def feed_events(url: str) -> float:
    """The run's own count of replayed events, from its /metrics endpoint (loopback)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "swarm_feed_events_total":
                return float(sample.value)
    return 0.0


def test_paper_when_interrupted_then_resume_goes_on_from_wal_without_duplicates(
    tmp_path: Path,
) -> None:
    config = tmp_path / "paper.toml"
    text = (ROOT / "configs" / "paper.toml").read_text()
    config.write_text(text.replace('dir = "var/paper"', f'dir = "{tmp_path / "state"}"'))
    first = subprocess.Popen(
        [
            sys.executable,
            "main.py",
            "--paper",
            "--no-tui",
            "--speed",
            "3000",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stderr is not None
    url = ""
    for line in first.stderr:  # the exporter's line comes once the system is up
        if line.startswith("metrics:"):
            url = line.split()[1]
            break
    assert url, "the paper run never came up"
    deadline = time.monotonic() + 120
    while feed_events(url) < 300 and time.monotonic() < deadline:
        time.sleep(0.5)  # some market time passes (the feed's actor may start late)
    first.send_signal(signal.SIGINT)
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err[-3000:]
    stopped = json.loads(out[out.index("{") :])
    assert stopped["stopped_by"] == "stop" and stopped["conservation_errors"] == 0
    run_dir = Path(stopped["run_dir"])
    meta = json.loads((run_dir / "run.json").read_text())
    assert 0 < meta["events"] < TOTAL_EVENTS  # it stopped part-way
    assert all((run_dir / "venues" / f"{v}.state").exists() for v in ("bybit", "binance"))

    second = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--paper",
            "--no-tui",
            "--json",
            "--config",
            str(config),
            "--resume",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = json.loads(second.stdout.strip().splitlines()[-1])
    assert (
        resumed["run_dir"] == str(run_dir) and resumed["resumed_from_ns"] == meta["market_time_ns"]
    )
    assert resumed["stopped_by"] == "end of data" and resumed["conservation_errors"] == 0
    assert resumed["gateway"]["breaker"] == "closed"
    assert (
        resumed["gateway"]["wal_records"] > stopped["gateway"]["wal_records"]
    )  # one WAL, continued
    assert resumed["gateway"]["orders"] >= stopped["gateway"]["orders"]  # the first run's are there
    assert meta["events"] + resumed["events"] <= TOTAL_EVENTS + 10  # nothing replayed twice
    # (a few book snapshots are re-sent whole at the resumed start)
    with duckdb.connect(str(run_dir / "audit.duckdb"), read_only=True) as db:
        dup = db.execute(
            "select count(*) from (select intent_id, agent_id from orders"
            " group by 1, 2 having count(*) > 1)"
        ).fetchone()
    assert dup == (0,)
