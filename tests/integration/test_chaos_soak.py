"""A short chaos soak, end to end: kills across gateway, agents and council, venue faults, then the checker.

Runs ``python -m chaos.soak`` in a subprocess (its own local Ray, so the shared
``ray_session`` is not disturbed). What is asserted are invariants, never
timings: at least 50 kills across the three kinds of target, every kill
followed by a restart and recovery, and zero violations of every invariant.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_when_actors_killed_and_venue_faults_then_zero_violations(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaos.soak",
            "--minutes",
            "1.6",
            "--seed",
            "5",
            "--namespace",
            "swarm-chaos-test",
            "--state-dir",
            str(tmp_path / "soak"),
            "--outage-every-s",
            "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )
    assert done.stdout.strip(), done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["feed_error"] is None, summary
    assert summary["kills"] >= 50, summary
    targets = {t.split(":")[0] for t in summary["kills_per_target"]}
    assert targets == {"gateway", "agent", "council"}, summary["kills_per_target"]
    assert summary["outcomes"] == {"recovered": summary["kills"]}, summary["outcomes"]
    assert summary["orders"] > 0 and sum(summary["venue_faults"].get("bybit", {}).values()) > 0
    assert summary["invariants"] == {
        "duplicates": 0,
        "lost": 0,
        "conservation": 0,
        "breaker": 0,
        "fills_once": 0,
        "reservations": 0,
        "liveness": 0,
        "audit": 0,
    }, summary
    assert done.returncode == 0
    kill_log = Path(summary["kill_log"])
    lines = kill_log.read_text().splitlines()
    assert json.loads(lines[0])["soak"]["seed"] == 5
    assert sum(1 for line in lines if '"target"' in line) == summary["kills"]
