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
        resting = resting_intent("agent0", 1)
        assert gateway.submit(resting).order is not None
        checks = _checks(gateway)
        assert checks["breaker CLOSED"].status == "pass"
        assert checks["positions reconciled"].status == "pass", checks["positions reconciled"]
        assert checks["no orphaned orders"].status == "pass"
        nodes, found, ports = connect_cluster("auto", ray_session, ["binance"])
        assert found is not None and set(ports) == {"binance"}
        versions = check_ray_versions(ray.__version__, nodes)
        assert versions.status == "pass" and "unknown" not in versions.reason

        killed = breaker_action(gateway, "kill", "ops", "test kill")
        # The resting order is still in flight, so the kill drains first.
        assert (killed["before"], killed["after"]) == ("closed", "draining")
        assert _checks(gateway)["breaker CLOSED"].status == "fail"
        gateway.cancel("agent0", resting.intent_id)  # cancels pass while draining
        for _ in range(100):  # nothing in flight any more: DRAINING -> OPEN on a poll
            gateway.poll()
            if gateway.status()["breaker"] == "open":
                break
            time.sleep(0.05)
        assert gateway.status()["breaker"] == "open"
        reset = breaker_action(gateway, "reset", "ops", "test reset")
        assert (reset["before"], reset["after"]) == ("open", "half_open")

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
    assert report["breaker"] == "half_open"
    assert [d["reason"] for d in report["council"]] == ["test"]
    assert report["council"][0]["budgets"] == {"agent0": "500"}
    # Four agents start with equal budgets; the council's decision cut agent0 to 500 of them.
    first, last = (w["weights"] for w in report["weights"])
    assert first == {f"agent{i}": 0.25 for i in range(4)}
    assert last["agent0"] < 1e-6 and last["agent1"] == last["agent2"] == last["agent3"] > 0.33
    json.dumps(report, default=str)
