"""``python main.py kill`` / ``reset``: trip or reset the breaker of a running system.

Joins the running Ray cluster (``--address``, default the config's
``ray.address`` or ``auto``) in the config's namespace, finds the ``gateway``
actor and calls ``GatewayClient.kill`` (CLOSED -> DRAINING: in-flight orders
finish, new ones are refused) or ``reset`` (OPEN -> HALF_OPEN, the operator's
step back towards CLOSED). Each transition is written to the WAL before it
takes effect. Prints one JSON line: the action, the operator, the breaker
state before and after. Exit 0 on success, 2 when no gateway is running.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

from core.config import SwarmConfig


def breaker_action(gateway: Any, action: str, operator: str, detail: str) -> dict[str, Any]:
    """Apply ``action`` (``kill`` or ``reset``) through a ``GatewayClient``; return what changed."""
    if action not in ("kill", "reset"):
        raise ValueError(f"action = {action!r}: expected 'kill' or 'reset'")
    before = str(gateway.status().get("breaker"))
    after = gateway.kill(operator, detail) if action == "kill" else gateway.reset(operator, detail)
    return {"action": action, "operator": operator, "before": before, "after": str(after)}


def run_control_command(args: Any, config: SwarmConfig) -> int:
    """``main.py kill|reset``: connect, act on the breaker, print the JSON line."""
    import ray

    from cli.runtime import start_ray
    from gateway.client import GatewayClient

    address = args.address or config.ray.address or "auto"
    joined = ray.is_initialized()
    start_ray(config.ray, address=address)
    try:
        try:
            gateway = GatewayClient(namespace=config.ray.namespace, deadline_s=args.timeout)
        except ValueError:
            print(
                f"error: no gateway running in namespace {config.ray.namespace!r} at {address}",
                file=sys.stderr,
            )
            return 2
        operator = args.operator or getpass.getuser()
        result = breaker_action(gateway, args.command, operator, args.reason or "")
    finally:
        if not joined:
            ray.shutdown()
    print(json.dumps(result, sort_keys=True))
    return 0
