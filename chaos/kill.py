"""``python -m chaos.kill``: kill a named actor of a running system and wait until it has recovered.

Contract
    ``Killer.kill_once(target, at=..., way=...)`` kills one actor of the
    ``swarm`` namespace — ``gateway``, ``agent:<id>``, ``council`` or ``feed``
    (never a ``venue:<name>``: it stands for the outside world) — then waits
    for Ray to restart it and for it to answer again (the gateway: recovery
    finished, ``status()["ready"]``), and returns a ``KillOutcome`` with how
    long that took. Ways: ``ray`` (``ray.kill(handle, no_restart=False)``) or
    ``sigkill`` (``SIGKILL`` to the worker's pid, read from Ray's actor table;
    only on this machine, else it falls back to ``ray``). Moments: ``random``
    (now), or ``mid-order``: for the gateway, a crash point on the order path
    is armed (``gateway.crashpoints``) and the gateway dies by itself when the
    next order reaches it; for the other actors, the kill lands right after
    the gateway's submit counter moved, i.e. while the agents' orders flow.

The actor's restart is read from Ray's actor table (``num_restarts``), so a
kill that Ray did not see is reported as ``not_restarted``, never as success.

Usage::

    python -m chaos.kill --target gateway --at mid-order --runs 10
    python -m chaos.kill --target agent:mm --at random --runs 20 --way sigkill
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

ORDER_PATH_POINTS: Final = (
    "before_wal_append",
    "after_wal_append",
    "before_send",
    "after_send",
    "after_result_logged",
    "mid_fill",
)
"""The crash points a ``mid-order`` kill of the gateway arms (one, chosen by the seed)."""


class ChaosError(Exception):
    """A kill could not be carried out (no such actor, or a venue)."""


@dataclass(frozen=True)
class ActorInfo:
    actor_id: str
    pid: int
    state: str
    restarts: int
    ip: str


@dataclass
class KillOutcome:
    """One kill and what came of it (a line of the soak's log)."""

    target: str
    way: str
    at: str
    t_s: float
    outcome: str = "recovered"
    """``recovered``, ``not_restarted`` (timeout), ``not_recovered``, ``dead``."""
    point: str | None = None
    pid_before: int | None = None
    pid_after: int | None = None
    recovery_s: float | None = None
    detail: str = ""


# -- RAY'S ACTOR TABLE ----------------------------------------------------------------


def actor_info(handle: Any) -> ActorInfo:
    """Return the actor's pid, state and restart count from Ray's actor table (GCS)."""
    import ray._private.state as state

    actor_id = handle._actor_id.hex()
    entry = state.actors(actor_id=actor_id)
    return ActorInfo(
        actor_id=actor_id,
        pid=int(entry.get("Pid") or 0),
        state=str(entry.get("State")),
        restarts=int(entry.get("NumRestarts") or 0),
        ip=str((entry.get("Address") or {}).get("IPAddress") or ""),
    )


def _local_ips() -> set[str]:
    import ray

    ips = {"127.0.0.1", "localhost"}
    try:
        ips.add(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
        ips.add(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    return ips


# -- THE KILLER -----------------------------------------------------------------------


class Killer:
    """Kill named actors of one namespace and wait for their recovery (see the module doc)."""

    def __init__(
        self, namespace: str | None = None, *, timeout_s: float = 60.0, crash_wait_s: float = 10.0
    ) -> None:
        self.namespace = namespace
        self.timeout_s = timeout_s
        self.crash_wait_s = crash_wait_s
        self._local = _local_ips()
        self._started = time.monotonic()

    def handle(self, target: str) -> Any:
        import ray

        if target.startswith("venue:"):
            raise ChaosError(f"target={target!r}: venues stand for the outside world, never killed")
        try:
            return ray.get_actor(target, namespace=self.namespace)
        except ValueError as exc:
            raise ChaosError(f"target={target!r}: no such actor") from exc

    def kill_once(
        self, target: str, *, at: str = "random", way: str = "ray", rng: random.Random | None = None
    ) -> KillOutcome:
        """Kill ``target`` once and wait for its recovery; never raises for a failed recovery."""
        rng = rng or random.Random()
        handle = self.handle(target)
        before = actor_info(handle)
        outcome = KillOutcome(
            target, way, at, round(time.monotonic() - self._started, 3), pid_before=before.pid
        )
        if target == "gateway" and at == "mid-order":
            outcome.way = "crash_point"
            outcome.point = rng.choice(ORDER_PATH_POINTS)
            self._arm(outcome.point)
        else:
            if at == "mid-order":
                self._wait_for_order(timeout_s=1.0)
            self._kill(handle, before, way, outcome)
        died_at = self._wait_restart(handle, before.restarts, outcome)
        if died_at is None:
            return outcome
        try:
            self._wait_answers(target, handle)
        except Exception as exc:  # recorded; the soak's checker has the last word
            outcome.outcome = "not_recovered"
            outcome.detail = f"{type(exc).__name__}: {exc}"[:300]
            return outcome
        outcome.recovery_s = round(time.monotonic() - died_at, 3)
        outcome.pid_after = actor_info(handle).pid
        return outcome

    def _kill(self, handle: Any, info: ActorInfo, way: str, outcome: KillOutcome) -> None:
        import ray

        if way == "sigkill":
            if info.pid and info.ip in self._local:
                try:
                    os.kill(info.pid, signal.SIGKILL)
                    return
                except ProcessLookupError:
                    outcome.detail = "pid gone before SIGKILL: ray.kill instead"
            else:
                outcome.detail = f"worker on {info.ip}, not this machine: ray.kill instead"
            outcome.way = "ray"
        ray.kill(handle, no_restart=False)

    def _arm(self, point: str) -> None:
        from gateway.client import GatewayClient

        GatewayClient(namespace=self.namespace, deadline_s=self.timeout_s).arm_crash(f"{point}:1")

    def _wait_for_order(self, timeout_s: float) -> None:
        """Return as soon as the gateway's submit counter moves (orders are flowing)."""
        from gateway.client import GatewayClient

        client = GatewayClient(namespace=self.namespace, deadline_s=self.timeout_s)
        first = client.status().get("stats", {}).get("submits")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if client.status().get("stats", {}).get("submits") != first:
                return
            time.sleep(0.02)

    def _wait_restart(self, handle: Any, restarts: int, outcome: KillOutcome) -> float | None:
        """Wait until Ray restarted the actor; return when it died (None: no restart).

        A kill dies when it is sent; an armed crash point when the actor is first
        seen restarting (to within this loop's 20 ms), so recovery times never
        include the wait for an order to reach the point.
        """
        import ray

        crash = outcome.way == "crash_point"
        died_at = None if crash else time.monotonic()
        deadline = time.monotonic() + (self.crash_wait_s if crash else self.timeout_s)
        while True:
            info = actor_info(handle)
            if died_at is None and (info.restarts > restarts or info.state != "ALIVE"):
                died_at = time.monotonic()
            if info.restarts > restarts and info.state == "ALIVE":
                return died_at
            if info.state == "DEAD":
                outcome.outcome = "dead"
                outcome.detail = "Ray did not restart the actor"
                return None
            if time.monotonic() > deadline:
                if not crash:
                    outcome.outcome = "not_restarted"
                    return None
                # No order reached the armed point in time: a plain kill (the restart disarms it).
                crash = False
                outcome.way = "ray"
                outcome.detail = f"no order reached {outcome.point} in {self.crash_wait_s}s"
                outcome.point = None
                ray.kill(handle, no_restart=False)
                died_at = time.monotonic()
                deadline = died_at + self.timeout_s
            time.sleep(0.02)

    def _wait_answers(self, target: str, handle: Any) -> None:
        """Block until the restarted actor serves calls again (the gateway: recovery done)."""
        import ray

        if target == "gateway":
            from gateway.client import GatewayClient

            GatewayClient(handle, deadline_s=self.timeout_s).wait_ready(self.timeout_s)
            return
        method = {"council": "history", "feed": "progress"}.get(target, "stats")
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                ray.get(getattr(handle, method).remote(), timeout=self.timeout_s)
                return
            except ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)


# -- CLI ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.kill", description=__doc__)
    parser.add_argument("--target", required=True, help="gateway | agent:<id> | council | feed")
    parser.add_argument("--at", choices=("mid-order", "random"), default="random")
    parser.add_argument("--way", choices=("ray", "sigkill", "mixed"), default="mixed")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--pause-s", type=float, default=0.5, help="between a recovery and the next kill"
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--address", default="auto")
    parser.add_argument("--namespace", default="swarm")
    args = parser.parse_args(argv)
    import ray

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    ray.init(address=args.address, namespace=args.namespace, logging_level=logging.ERROR)
    killer = Killer(args.namespace)
    failures = 0
    print(json.dumps({"seed": seed, "target": args.target, "at": args.at, "runs": args.runs}))
    for _ in range(args.runs):
        way = rng.choice(("ray", "sigkill")) if args.way == "mixed" else args.way
        try:
            outcome = killer.kill_once(args.target, at=args.at, way=way, rng=rng)
        except ChaosError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        failures += outcome.outcome != "recovered"
        print(json.dumps(asdict(outcome)), flush=True)
        time.sleep(rng.uniform(0, args.pause_s))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
