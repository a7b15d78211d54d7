"""The operator's controls, shared by ``main.py kill|reset|agent`` and the web cockpit.

Each control goes through the typed clients (``GatewayClient``, ``AgentClient``)
and is in the WAL before it takes effect: the breaker's kill and reset are
BREAKER transitions the gateway writes itself; an agent's pause, resume and
flatten are logged first as an operator control (``agents.controls``), then
delivered to the agent. A control that cannot be done raises ``ControlFailed``
saying why (no such agent, the agent did not answer, the gateway refused).

No Ray here: the clients are handed in (``agent_client(agent_id)`` builds one).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

from agents.controls import CONTROL_ACTIONS, control_payload
from core.errors import SwarmError

BREAKER_ACTIONS = ("kill", "reset")


class ControlFailed(SwarmError):
    """A control that was not done (or done only in part); the message says why."""


class BreakerGateway(Protocol):
    def status(self) -> dict[str, Any]: ...

    def kill(self, operator: str, detail: str = "") -> str: ...

    def reset(self, operator: str, detail: str = "") -> str: ...


class ControlGateway(Protocol):
    def log_council(self, decision: Any, budgets: Any = None) -> None: ...


class ControlledAgent(Protocol):
    def pause(self, reason: str, by: str = "council") -> int: ...

    def resume(self, by: str = "council") -> bool: ...

    def flatten(self, control_id: str, reason: str) -> dict[str, Any]: ...

    def stats(self) -> dict[str, Any]: ...


def new_control_id() -> str:
    """A fresh control id (16 hex characters): a retried control carries the same one."""
    return "op" + secrets.token_hex(7)


def breaker_action(
    gateway: BreakerGateway, action: str, operator: str, detail: str
) -> dict[str, Any]:
    """Apply ``action`` (``kill`` or ``reset``) through a ``GatewayClient``; return what changed."""
    if action not in BREAKER_ACTIONS:
        raise ValueError(f"action = {action!r}: expected 'kill' or 'reset'")
    before = str(gateway.status().get("breaker"))
    try:
        after = (
            gateway.kill(operator, detail) if action == "kill" else gateway.reset(operator, detail)
        )
    except SwarmError as exc:
        raise ControlFailed(f"{action}: the gateway refused: {exc}") from None
    if action == "reset" and str(after) == before and before != "half_open":
        raise ControlFailed(
            f"reset: the breaker is {before}: only an OPEN breaker can be reset (nothing changed)"
        )
    return {"action": action, "operator": operator, "before": before, "after": str(after)}


def agent_action(
    gateway: ControlGateway,
    agent_client: Callable[[str], ControlledAgent],
    action: str,
    agent: str,
    operator: str,
    reason: str = "",
    *,
    control_id: str | None = None,
    now_ns: Callable[[], int] = time.time_ns,
) -> dict[str, Any]:
    """Log and deliver one control on ``agent``; return what it did and the agent's status after.

    ``agent_client`` raises ``ValueError`` when no such agent runs (Ray's answer to a
    missing named actor): that is a ``ControlFailed`` before anything is logged.
    """
    if action not in CONTROL_ACTIONS:
        raise ControlFailed(f"action = {action!r}: expected one of {', '.join(CONTROL_ACTIONS)}")
    try:
        client = agent_client(agent)
    except ValueError:
        raise ControlFailed(f"agent = {agent!r}: no such agent is running") from None
    control_id = control_id or new_control_id()
    payload = control_payload(
        control_id=control_id,
        action=action,
        agent=agent,
        operator=operator,
        reason=reason,
        ts_ns=now_ns(),
    )
    try:
        gateway.log_council(payload, None)
    except Exception as exc:
        raise ControlFailed(
            f"{action} {agent}: not logged in the WAL, so not done: {exc}"
        ) from None
    result: dict[str, Any] = {
        "action": action,
        "agent": agent,
        "operator": operator,
        "reason": reason,
        "control_id": control_id,
        "logged": True,
    }
    try:
        if action == "pause":
            result["canceled"] = client.pause(reason or "paused by the operator", "operator")
        elif action == "resume":
            result["running"] = client.resume("operator")
        else:
            result.update(client.flatten(control_id, reason or "flatten"))
        stats = client.stats()
    except Exception as exc:
        raise ControlFailed(
            f"{action} {agent}: logged in the WAL but the agent did not answer "
            f"({type(exc).__name__}: {exc}); it applies a logged pause when it restarts"
        ) from None
    if result.get("denied"):
        raise ControlFailed(
            f"flatten {agent}: paused and its orders canceled, but {result['denied']} closing "
            f"order(s) were denied: {result.get('last_denial')}"
        )
    result["status"] = stats.get("status")
    result["paused_by"] = stats.get("paused_by", {})
    if action == "resume" and not result["running"]:
        result["note"] = "still paused by " + ", ".join(sorted(result["paused_by"]))
    return result
