"""configs/variants.toml end to end: a shadow market maker trades its own sandbox beside the fund."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_paper_when_variant_configured_then_shadow_scored_and_fund_untouched() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--paper",
            "--lockstep",
            "--no-tui",
            "--json",
            "--config",
            "configs/variants.toml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    shadow = summary["shadows"]["mm--wide"]
    assert shadow["errors"] == 0 and int(shadow["decisions"]) > 100
    assert Decimal(shadow["fees"]) > 0  # it traded, in its own paper venue
    assert "mm--wide" not in summary["agents"]  # never one of the fund's agents
    orders = summary["gateway"]["counters"]["intents"]
    assert orders == sum(a["orders"] for a in summary["agents"].values())  # none of the shadow's
    assert summary["conservation_errors"] == 0
    # Each reweighting tested the variant: on this day it is not better, so no promotion.
    assert summary["council"]["promotions"] == []
