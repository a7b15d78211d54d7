"""``python -m chaos.venue_faults``: switch venue faults on, off, or show them, on a running paper system.

Contract
    Sends the control message ``set_faults(spec)`` (or ``clear_faults()``, or
    reads ``fault_stats()``) to each chosen ``venue:<name>`` actor; the faults
    themselves are ``chaos.faults`` (seeded, off by default). A new spec
    replaces the one in force, except that options not given keep their
    current value (``--merge``, the default), so ``chaos.latency`` and this
    command can be combined. An outage (``--outage-s``) starts when the spec
    is set. Prints one JSON line per venue: the spec in force and the counts.

Usage::

    python -m chaos.venue_faults --lost-ack 0.05 --not-found 0.1 --timeout 0.02
    python -m chaos.venue_faults --venues bybit --outage-s 10
    python -m chaos.venue_faults --status
    python -m chaos.venue_faults --clear
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, cast

from chaos.faults import FAULT_KINDS, FaultSpec

RATE_OPTIONS = {kind: kind.replace("_", "-") for kind in FAULT_KINDS}


def target_venues(value: str | None) -> list[str]:
    """The venues named on the command line, or every venue of configs/paper.toml."""
    if value:
        return [v.strip() for v in value.split(",") if v.strip()]
    from core.config import SwarmConfig, load_config

    return list(load_config("configs/paper.toml", SwarmConfig).paper.venues)


def base_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--address", default="auto", help="the Ray cluster (default: auto)")
    parser.add_argument("--namespace", default="swarm")
    parser.add_argument("--venues", default=None, help="comma-separated (default: all)")
    parser.add_argument("--replace", action="store_true", help="drop the options not given")
    parser.add_argument("--seed", type=int, default=None)
    return parser


def apply(
    venues: Sequence[str], changes: dict[str, Any], *, namespace: str, replace: bool
) -> list[dict[str, Any]]:
    """Set ``changes`` on each venue (merged into its current spec unless ``replace``)."""
    import ray

    lines: list[dict[str, Any]] = []
    for name in venues:
        handle = ray.get_actor(f"venue:{name}", namespace=namespace)
        current = cast(dict[str, Any], ray.get(handle.fault_stats.remote()))
        base = {} if replace or not current.get("active") else dict(current["spec"])
        spec = FaultSpec.model_validate({**base, **changes})  # a bad value names its field
        lines.append({"venue": name, "spec": ray.get(handle.set_faults.remote(spec))})
    return lines


def connect(address: str, namespace: str) -> None:
    import ray

    ray.init(address=address, namespace=namespace, logging_level=logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = base_parser("python -m chaos.venue_faults", __doc__)
    for kind, option in RATE_OPTIONS.items():
        parser.add_argument(f"--{option}", type=float, default=None, help=f"rate of {kind}")
    parser.add_argument("--not-found-queries", type=int, default=None)
    parser.add_argument("--outage-s", type=float, default=None, help="an outage, starting now")
    parser.add_argument("--account-reads", action="store_true", help="fault balances/positions")
    parser.add_argument("--clear", action="store_true", help="switch every fault off")
    parser.add_argument("--status", action="store_true", help="show the spec and counts")
    args = parser.parse_args(argv)
    import ray

    venues = target_venues(args.venues)
    try:
        connect(args.address, args.namespace)
        if args.clear or args.status:
            for name in venues:
                handle = ray.get_actor(f"venue:{name}", namespace=args.namespace)
                method: Any = handle.clear_faults if args.clear else handle.fault_stats
                stats = cast(dict[str, Any], ray.get(method.remote()))
                print(json.dumps({"venue": name, **stats}, default=str))
            return 0
        changes: dict[str, Any] = {
            kind: getattr(args, kind) for kind in FAULT_KINDS if getattr(args, kind) is not None
        }
        for key in ("not_found_queries", "outage_s", "seed"):
            if getattr(args, key) is not None:
                changes[key] = getattr(args, key)
        if args.account_reads:
            changes["account_reads"] = True
        for line in apply(venues, changes, namespace=args.namespace, replace=args.replace):
            print(json.dumps(line, default=str))
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
