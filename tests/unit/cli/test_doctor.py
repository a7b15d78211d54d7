"""doctor: pass on a fresh paper set-up, fail naming the directory when the WAL's is read-only."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import main
from cli.doctor import check_ray_versions, check_venues, run_checks
from core.config import SwarmConfig

ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path, state: Path, extra: str = "") -> Path:
    path = tmp_path / "paper.toml"
    path.write_text(
        f'mode = "paper"\n[paper]\ndata_dir = "{ROOT / "data" / "bybit-btcusdt-2022-12-13"}"\n'
        f'[state]\ndir = "{state}"\n[gateway]\nmax_order_notional = "1000"\n{extra}'
    )
    return path


def _doctor(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, dict[str, str]]]:
    code = main.main(["doctor", "--config", str(config), "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return code, {c["name"]: c for c in out["checks"]}


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    wal = tmp_path / "state" / "run-20260101T000000Z" / "wal"
    wal.mkdir(parents=True)
    os.chmod(wal, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    yield wal
    os.chmod(wal, stat.S_IRWXU)


def test_doctor_when_fresh_paper_setup_then_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks = _doctor(_config(tmp_path, tmp_path / "fresh"), capsys)
    assert code == 0, checks
    assert checks["replay data"]["status"] == "pass"
    assert checks["state dir writable"]["status"] == "pass"
    assert checks["WAL readable"]["status"] == "skip"  # no previous run
    assert checks["breaker CLOSED"]["status"] == "skip"
    assert not (tmp_path / "fresh").exists()  # doctor creates nothing


def test_doctor_when_wal_dir_read_only_then_exit_nonzero_naming_the_directory(
    tmp_path: Path, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks = _doctor(_config(tmp_path, tmp_path / "state"), capsys)
    assert code == 1
    failed = checks["WAL dir writable"]
    assert failed["status"] == "fail"
    assert str(read_only) in failed["reason"] and "read-only" in failed["reason"]
    assert checks["WAL readable"]["status"] == "pass"  # an empty log reads fine


def test_doctor_when_dashboard_on_all_interfaces_and_no_data_then_each_fails_with_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, tmp_path / "s", '[ray]\ndashboard_host = "0.0.0.0"\n')
    config.write_text(config.read_text().replace(str(ROOT / "data"), str(tmp_path / "nodata")))
    code, checks = _doctor(config, capsys)
    assert code == 1
    assert "0.0.0.0" in checks["dashboard on loopback"]["reason"]
    assert checks["replay data"]["status"] == "fail"
    assert "nodata" in checks["replay data"]["reason"]


def test_doctor_when_live_without_keys_then_fails_and_system_checks_wait_for_the_gateway(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.toml"
    path.write_text(f'mode = "live"\n[paper]\nvenues = ["binance"]\n[state]\ndir = "{tmp_path}"\n')
    checks = {c.name: c for c in run_checks(SwarmConfig(mode="live"), str(path), environ={})}
    assert checks["keys"].status == "fail" and "SWARM_BINANCE_API_KEY" in checks["keys"].reason
    assert checks["risk limits"].status == "fail"  # live needs its caps stated
    # No running system yet: the gateway reconciles at its start and halts on a mismatch.
    assert checks["breaker CLOSED"].status == "skip"
    assert "reconciles at start" in checks["breaker CLOSED"].reason
    assert "replay data" not in checks


class _Probe:
    def __init__(self, withdraw: bool | None, down: bool = False) -> None:
        self.withdraw, self.down = withdraw, down

    def reachable(self, venue: str) -> str:
        if self.down:
            raise ConnectionError("timed out")
        return "12 markets"

    def can_withdraw(self, venue: str) -> bool | None:
        return self.withdraw


def test_venue_checks_when_withdraw_rights_or_unreachable_then_fail_with_reason() -> None:
    assert [c.status for c in check_venues(["binance"], _Probe(False))] == ["pass", "pass"]
    assert [c.status for c in check_venues(["binance"], _Probe(True))] == ["pass", "fail"]
    assert [c.status for c in check_venues(["binance"], _Probe(None))] == ["pass", "skip"]
    down = check_venues(["binance"], _Probe(False, down=True))
    assert down[0].status == "fail" and "timed out" in down[0].reason


def test_ray_versions_when_a_node_differs_then_fail_naming_it() -> None:
    nodes = [
        {"Alive": True, "NodeManagerAddress": "10.0.0.1", "RayVersion": "2.60.0"},
        {"Alive": True, "NodeManagerAddress": "10.0.0.2", "RayVersion": "2.59.0"},
    ]
    check = check_ray_versions("2.60.0", nodes)
    assert check.status == "fail" and "10.0.0.2: 2.59.0" in check.reason
    assert check_ray_versions("2.60.0", nodes[:1]).status == "pass"
