"""Benchmark: orders through the gateway actor (WAL fsync on, paper venue behind it) vs bare Ray.

Three caller actors (as the three agents) each send orders and wait for every
ack. In the same run, with the same call pattern: the same callers against a
no-op actor (bare Ray), a bare fsync loop, and the batched path (``submit_many``,
10 orders per call: one WAL commit and one venue round trip per batch).

Prints ONE JSON line. Run from the project root:

    .venv/bin/python -m tests.bench.gateway [--orders 600]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class NoOp:
    """The bare-Ray baseline: takes the same argument, returns a small answer."""

    def submit(self, intent: Any) -> str:
        return intent.intent_id

    def submit_many(self, intents: list[Any]) -> list[str]:
        return [i.intent_id for i in intents]


class Caller:
    """One agent-like caller: sends its orders one after the other, waiting for each ack."""

    def __init__(self, target_name: str) -> None:
        import ray

        self._target = ray.get_actor(target_name)

    def run(self, intents: list[Any], batch: int) -> list[float]:
        import ray

        latencies: list[float] = []
        for start in range(0, len(intents), batch):
            chunk = intents[start : start + batch]
            began = time.perf_counter()
            if batch == 1:
                ray.get(self._target.submit.remote(chunk[0]))
            else:
                ray.get(self._target.submit_many.remote(chunk))
            latencies.append(time.perf_counter() - began)
        return latencies


def _intents(agent: str, count: int, tag: str) -> list[Any]:
    from tests.integration.gateway_support import resting_intent

    return [
        resting_intent(agent, n).model_copy(update={"intent_id": f"{tag}{n}"}) for n in range(count)
    ]


def _run_callers(target: str, per_caller: int, batch: int, tag: str) -> dict[str, Any]:
    import ray

    callers = [ray.remote(num_cpus=0)(Caller).remote(target) for _ in range(3)]
    work = [_intents(f"agent{i}", per_caller, tag) for i in range(3)]
    ray.get([c.run.remote(w[:batch], batch) for c, w in zip(callers, work, strict=True)])  # warm up
    work = [w[batch:] for w in work]
    began = time.perf_counter()
    results = ray.get([c.run.remote(w, batch) for c, w in zip(callers, work, strict=True)])
    elapsed = time.perf_counter() - began
    latencies = sorted(x for r in results for x in r)
    orders = sum(len(w) for w in work)
    for caller in callers:
        ray.kill(caller)
    return {
        "orders_per_s": round(orders / elapsed),
        "ack_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "ack_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 3),
        "calls": len(latencies),
    }


def _bare_fsync(directory: Path, count: int) -> dict[str, Any]:
    path = directory / "fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    payload = b"x" * 200
    try:
        began = time.perf_counter()
        for _ in range(count):
            os.write(fd, payload)
            os.fdatasync(fd)
        elapsed = time.perf_counter() - began
    finally:
        os.close(fd)
    return {"syncs_per_s": round(count / elapsed), "us_per_sync": round(elapsed / count * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=600, help="orders per caller (default 600)")
    args = parser.parse_args()

    import ray

    from cli.runtime import create_actor
    from tests.integration.gateway_support import start_system

    work_dir = Path(
        tempfile.mkdtemp(
            prefix="bench-gateway-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None
        )
    )
    ray.init(
        namespace="swarm-bench", include_dashboard=False, logging_level="ERROR", log_to_driver=False
    )
    try:
        noop = (
            ray.remote(num_cpus=0)(NoOp).options(name="noop").remote()
        )  # keep the handle: it lives while held
        bare_ray = _run_callers("noop", args.orders, 1, "n")
        bare_ray_batched = _run_callers("noop", args.orders, 10, "nb")
        _, client = start_system(work_dir / "state")
        gateway = _run_callers("gateway", args.orders, 1, "g")
        gateway_batched = _run_callers("gateway", args.orders * 5, 10, "gb")
        status = client.status()
        fsync = _bare_fsync(work_dir, 2000)
        del create_actor, noop
    finally:
        ray.shutdown()
        shutil.rmtree(work_dir, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "gateway",
                "callers": 3,
                "bare_ray": bare_ray,
                "bare_ray_batched_10": bare_ray_batched,
                "bare_fsync": fsync,
                "gateway": gateway,
                "gateway_submit_many_10": gateway_batched,
                "ratio_gateway_vs_bare_ray": round(
                    gateway["orders_per_s"] / bare_ray["orders_per_s"], 3
                ),
                "ratio_gateway_batched_vs_bare_ray_batched": round(
                    gateway_batched["orders_per_s"] / bare_ray_batched["orders_per_s"], 3
                ),
                "wal_records": status.get("wal_committed_seq"),
                "goals": {
                    "ratio_gateway_vs_bare_ray": 0.7,
                    "ack_p99_ms": 10,
                    "submit_many_orders_per_s": 10000,
                },
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
