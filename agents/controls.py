"""The operator's controls on one agent (pause, resume, flatten) as WAL records: pure.

A control is logged in the gateway's WAL before it is delivered, as a COUNCIL
record (the log of who governs the agents) whose payload carries a ``control``
entry instead of a council decision::

    {"ts_ns": <wall ns>, "control": {"id", "action", "agent", "operator", "reason"}}

The council skips these when it rebuilds itself (``is_control``); the agent
actor reads the last one for its id when it starts (``operator_hold``), so an
operator's pause outlives a restart; the cockpit and ``main.py report`` list
them. ``ts_ns`` is wall-clock time: an operator acts in real time, not market
time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import InvalidValue

CONTROL_ACTIONS = ("pause", "resume", "flatten")
CONTROL_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,32}$")


def control_payload(
    *, control_id: str, action: str, agent: str, operator: str, reason: str, ts_ns: int
) -> dict[str, Any]:
    """Return the COUNCIL record payload of one control; ``InvalidValue`` names a bad field."""
    if action not in CONTROL_ACTIONS:
        raise InvalidValue("action", action, f"expected one of {', '.join(CONTROL_ACTIONS)}")
    if not CONTROL_ID_PATTERN.match(control_id):
        raise InvalidValue("control_id", control_id, f"must match {CONTROL_ID_PATTERN.pattern}")
    if not agent or agent.startswith("_"):
        raise InvalidValue("agent", agent, "must name an agent")
    if not operator:
        raise InvalidValue("operator", operator, "must name who acts")
    return {
        "ts_ns": int(ts_ns),
        "control": {
            "id": control_id,
            "action": action,
            "agent": agent,
            "operator": operator,
            "reason": reason,
        },
    }


def is_control(payload: Mapping[str, Any]) -> bool:
    """Whether a COUNCIL record is an operator's control rather than a council decision."""
    return isinstance(payload.get("control"), Mapping)


def controls_of(log: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the controls in a council log, oldest first, each with its ``ts_ns``."""
    return [{"ts_ns": int(p["ts_ns"]), **dict(p["control"])} for p in log if is_control(p)]


def operator_hold(log: Iterable[Mapping[str, Any]], agent: str) -> str | None:
    """Return the reason the operator holds ``agent`` paused (its last control was a pause
    or a flatten), or None (never paused, or resumed since)."""
    held: str | None = None
    for control in controls_of(log):
        if control["agent"] != agent:
            continue
        if control["action"] == "resume":
            held = None
        else:
            held = str(control.get("reason") or control["action"])
    return held
