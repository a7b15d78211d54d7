"""The recovery benchmark's code path, small: a WAL of 5,000 records, both recoveries in child processes."""

from __future__ import annotations

import json

import pytest

from tests.bench import recovery


def test_recovery_bench_when_small_log_then_one_json_line_and_same_snapshot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    recovery.main(["--records", "5000", "--checkpoint-every", "1000"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["records"] >= 5000
    assert result["checkpoints_written"] >= 2
    assert 0 < result["checkpoint_seq"] <= result["records"]
    assert result["replayed_after_checkpoint"] < result["records"] // 2
    assert result["same_snapshot"] is True
    assert result["in_flight_asked"] == 6
    for key in ("recovery_s", "replay_without_checkpoint_s", "rss_mb", "generate_s"):
        assert result[key] > 0, key
