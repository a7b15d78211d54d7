"""The operator's controls through fake clients: logged first, delivered, failures say why."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agents.controls import controls_of
from cli.cockpit.controls import ControlFailed, agent_action, breaker_action
from core.errors import DeniedError
from council.core import CouncilConfig, CouncilCore


class FakeGateway:
    def __init__(self, fail_log: bool = False) -> None:
        self.log: list[dict[str, Any]] = []
        self.fail_log = fail_log
        self.breaker = "closed"

    def log_council(self, decision: Any, budgets: Any = None) -> None:
        if self.fail_log:
            raise RuntimeError("disk full")
        self.log.append(dict(decision))

    def status(self) -> dict[str, Any]:
        return {"breaker": self.breaker}

    def kill(self, operator: str, detail: str = "") -> str:
        self.breaker = "draining"
        return self.breaker

    def reset(self, operator: str, detail: str = "") -> str:
        if self.breaker == "draining":
            raise DeniedError("breaker is draining: nothing to reset")
        if self.breaker == "open":
            self.breaker = "half_open"
        return self.breaker


class FakeAgent:
    def __init__(self, gateway: FakeGateway, dead: bool = False, denied: int = 0) -> None:
        self.gateway = gateway
        self.dead = dead
        self.denied = denied
        self.holds: dict[str, str] = {}
        self.logged_before_delivery: list[bool] = []

    def _check(self) -> None:
        self.logged_before_delivery.append(bool(self.gateway.log))
        if self.dead:
            raise TimeoutError("no answer")

    def pause(self, reason: str, by: str = "council") -> int:
        self._check()
        self.holds[by] = reason
        return 2

    def resume(self, by: str = "council") -> bool:
        self._check()
        self.holds.pop(by, None)
        return not self.holds

    def flatten(self, control_id: str, reason: str) -> dict[str, Any]:
        self._check()
        self.holds["operator"] = reason
        return {
            "canceled": 1,
            "closing_orders": ["sell 0.1"],
            "denied": self.denied,
            "last_denial": "price band" if self.denied else None,
        }

    def stats(self) -> dict[str, Any]:
        return {"status": "paused" if self.holds else "running", "paused_by": dict(self.holds)}


def test_agent_action_when_pause_then_logged_before_delivery_and_status_paused() -> None:
    gateway = FakeGateway()
    agent = FakeAgent(gateway)
    result = agent_action(
        gateway, lambda _: agent, "pause", "mm", "ops", "by hand", now_ns=lambda: 7
    )
    assert agent.logged_before_delivery == [True]
    assert controls_of(gateway.log) == [
        {
            "ts_ns": 7,
            "id": result["control_id"],
            "action": "pause",
            "agent": "mm",
            "operator": "ops",
            "reason": "by hand",
        }
    ]
    assert (result["status"], result["canceled"]) == ("paused", 2)


def test_agent_action_when_council_still_pauses_then_resume_says_so() -> None:
    gateway = FakeGateway()
    agent = FakeAgent(gateway)
    agent.holds["council"] = "drawdown"
    result = agent_action(gateway, lambda _: agent, "resume", "mm", "ops")
    assert result["running"] is False and result["note"] == "still paused by council"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no agent", "no such agent"),
        ("log fails", "not logged in the WAL, so not done: disk full"),
        ("agent dead", "logged in the WAL but the agent did not answer"),
        ("close denied", r"1 closing order\(s\) were denied: price band"),
        ("bad action", "expected one of pause, resume, flatten"),
    ],
)
def test_agent_action_when_it_cannot_be_done_then_control_failed_says_why(
    case: str, expected: str
) -> None:
    gateway = FakeGateway(fail_log=case == "log fails")
    agent = FakeAgent(gateway, dead=case == "agent dead", denied=int(case == "close denied"))

    def client(agent_id: str) -> FakeAgent:
        if case == "no agent":
            raise ValueError("Failed to look up actor")
        return agent

    action = "explode" if case == "bad action" else "flatten"
    with pytest.raises(ControlFailed, match=expected):
        agent_action(gateway, client, action, "mm", "ops")
    if case in ("no agent", "log fails", "bad action"):
        assert gateway.log == []


def test_breaker_action_when_reset_refused_then_control_failed_names_gateway_reason() -> None:
    gateway = FakeGateway()
    with pytest.raises(ControlFailed, match="the breaker is closed: only an OPEN breaker"):
        breaker_action(gateway, "reset", "ops", "")
    assert breaker_action(gateway, "kill", "ops", "")["after"] == "draining"
    with pytest.raises(ControlFailed, match="draining: nothing to reset"):
        breaker_action(gateway, "reset", "ops", "")
    gateway.breaker = "open"
    assert breaker_action(gateway, "reset", "ops", "")["after"] == "half_open"


def test_council_from_log_when_log_holds_controls_then_they_are_skipped() -> None:
    gateway = FakeGateway()
    agent_action(gateway, lambda _: FakeAgent(gateway), "pause", "mm", "ops")
    core = CouncilCore.from_log(CouncilConfig(capital=Decimal(1000)), ("mm",), gateway.log)
    assert core.history == [] and core.paused == {}
