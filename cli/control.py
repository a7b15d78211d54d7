"""``python main.py kill|reset`` and ``agent pause|resume|flatten AGENT`` on a running system.

Joins the running Ray cluster (``--address``, default the config's
``ray.address`` or ``auto``) in the config's namespace, finds the ``gateway``
actor (and the ``agent:<id>`` actor) and acts through the typed clients
(``cli.cockpit.controls``):

- ``kill`` trips the breaker (CLOSED -> DRAINING: in-flight orders finish, new
  ones are refused), ``reset`` resets an OPEN one (-> HALF_OPEN probes); the
  gateway writes each transition to the WAL before it takes effect;
- ``agent pause AGENT``: the agent opens nothing and keeps managing its exits;
  ``resume`` lifts the operator's pause (a council pause stays the council's);
  ``flatten`` pauses it, cancels its orders and closes its positions reduce-only
  through the gateway. Each is logged in the WAL first (``agents.controls``).

Prints one JSON line: what was done, by whom, the state before and after.
Exit 0 on success, 2 when no gateway (or no such agent) is running or the
control failed (the message says why).
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

from cli.cockpit.controls import ControlFailed, agent_action, breaker_action
from core.config import SwarmConfig

__all__ = ["breaker_action", "run_control_command"]


def run_control_command(args: Any, config: SwarmConfig) -> int:
    """``main.py kill|reset|agent``: connect, act, print the JSON line."""
    import ray

    from agents.client import AgentClient
    from cli.runtime import start_ray
    from gateway.client import GatewayClient

    address = args.address or config.ray.address or "auto"
    joined = ray.is_initialized()
    start_ray(config.ray, address=address)
    namespace = config.ray.namespace
    try:
        try:
            gateway = GatewayClient(namespace=namespace, deadline_s=args.timeout)
        except ValueError:
            print(
                f"error: no gateway running in namespace {namespace!r} at {address}",
                file=sys.stderr,
            )
            return 2
        operator = args.operator or getpass.getuser()
        try:
            if args.command == "agent":
                result = agent_action(
                    gateway,
                    lambda agent: AgentClient(agent, namespace=namespace, deadline_s=args.timeout),
                    args.action,
                    args.agent,
                    operator,
                    args.reason or "",
                )
            else:
                result = breaker_action(gateway, args.command, operator, args.reason or "")
        except ControlFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    finally:
        if not joined:
            ray.shutdown()
    print(json.dumps(result, sort_keys=True, default=str))
    return 0
