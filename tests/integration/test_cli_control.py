"""kill/reset, doctor and report against a real running gateway (the shared Ray session)."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import ray

from cli.control import breaker_action
from cli.doctor import check_ray_versions, connect_cluster, running_checks
from cli.report import audit_report
from core.config import SwarmConfig
from core.errors import InvalidValue
from exchanges.venue_client import RemoteVenue
from tests.integration.gateway_support import resting_intent, start_system, stop_system


def _checks(gateway: Any) -> dict[str, Any]:
    venues = {"binance": RemoteVenue("binance", ray.get_actor("venue:binance"))}
    return {c.name: c for c in running_checks(gateway, venues)}


def _report_when_unlocked(db: Path) -> dict[str, Any]:
    """The killed gateway's process may hold duckdb's lock a moment longer: wait for it to go."""
    for _ in range(100):
        try:
            return audit_report(db, SwarmConfig())[0]
        except InvalidValue as exc:
            if "lock" not in str(exc):
                raise
            time.sleep(0.1)
    return audit_report(db, SwarmConfig())[0]


def test_cli_when_system_runs_then_doctor_checks_it_kill_trips_reset_reopens_report_reads_store(
    ray_session: str, tmp_path: Path
) -> None:
    _, gateway = start_system(tmp_path)
    try:
        assert gateway.submit(resting_intent("agent0", 1)).order is not None
        checks = _checks(gateway)
        assert checks["breaker CLOSED"].status == "pass"
        assert checks["positions reconciled"].status == "pass", checks["positions reconciled"]
        assert checks["no orphaned orders"].status == "pass"
        nodes, found, ports = connect_cluster("auto", ray_session, ["binance"])
        assert found is not None and set(ports) == {"binance"}
        versions = check_ray_versions(ray.__version__, nodes)
        assert versions.status == "pass" and "unknown" not in versions.reason

        killed = breaker_action(gateway, "kill", "ops", "test kill")
        assert killed["before"] == "closed" and killed["after"] in ("draining", "open")
        assert _checks(gateway)["breaker CLOSED"].status == "fail"
        for _ in range(50):  # DRAINING -> OPEN once the resting order is canceled or on a tick
            gateway.poll()
            if gateway.status()["breaker"] == "open":
                break
        if gateway.status()["breaker"] == "open":
            reset = breaker_action(gateway, "reset", "ops", "test reset")
            assert reset["before"] == "open" and reset["after"] != "open"

        decision = {  # the shape of council.core's log_payload
            "ts_ns": 5,
            "budgets": {"agent0": "500"},
            "allocation": {"weights": {"agent0": "1"}, "reason": "test"},
            "votes": [],
        }
        asyncio.run(gateway.alog_council(decision, {"agent0": Decimal(500)}))
        gateway.poll()  # flushes the audit projection
    finally:
        stop_system()
    report = _report_when_unlocked(tmp_path / "audit.duckdb")
    assert report["breaker"] in ("draining", "open", "half_open", "closed")
    assert [d["reason"] for d in report["council"]] == ["test"]
    assert report["council"][0]["budgets"] == {"agent0": "500"}
    weights = report["weights"]
    assert weights[-1]["weights"]["agent0"] > weights[0]["weights"]["agent0"] or len(weights) >= 2
    json.dumps(report, default=str)
