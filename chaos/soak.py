"""``python -m chaos.soak --minutes M``: paper trading under kills and venue faults, then the checker.

What it does
    Starts its own paper system the way ``python main.py --paper`` does (the
    ``venue:<name>`` actors, the feed, the gateway, the three agents of
    ``configs/paper.toml``, and the council, switched on for the soak), with
    modest seeded venue faults on every venue (``chaos.faults``) and a short
    venue outage every ``--outage-every-s``. The data set is paced to last
    ``M`` minutes: speed = its market span / M (the embedded set spans 24 hours
    of market time, bars of 2022-12-13 and the next day's first funding
    print, so ``--minutes 5`` replays at 288x real time). While the replay runs it kills a
    random actor (gateway, an agent, the council; never a venue; half the
    time a second one at the same moment) with
    ``ray.kill`` or ``SIGKILL`` of its worker, at a random moment or, for the
    gateway, at an armed crash point on the order path, waits for the restart
    and recovery, and goes on. Then it stops the agents, clears the faults,
    lets the gateway settle, and runs ``chaos.check`` with ``final``.

Output
    One JSON line: the seed, kills per target and per way, outcomes, recovery
    time p50/max (overall and per target), orders, fills, the venue faults
    that fired, and each invariant's violation count. Every kill is a line of
    ``<run dir>/chaos-kills.jsonl`` (time, target, way, moment, crash point,
    pids, outcome, recovery time); the soak's own parameters are its first
    line, so a failure can be replayed with the same seed.

The feed is not a soak target: a restarted feed replays from the first
record (its contract), and the paper venues would be fed market time that
went backwards. ``python -m chaos.kill --target feed`` kills it on demand.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos.faults import FaultSpec

log = logging.getLogger(__name__)


def market_seconds(data_dir: Path, venues: tuple[str, ...]) -> float:
    """Return the market time the data set spans (first to last event), read once up front."""
    from exchanges.feeds.replay import ReplayFeed

    first = last = None
    for batch in ReplayFeed(data_dir, venues=venues).batches(4096):
        first = batch[0].ts_ns if first is None else first
        last = batch[-1].ts_ns
    if first is None or last is None or last <= first:
        raise ValueError(f"data_dir={data_dir}: no market time to pace")
    return (last - first) / 1e9


DEFAULT_FAULTS = FaultSpec(
    latency_ms=0.5,
    jitter_ms=2.0,
    timeout=0.01,
    server_error=0.01,
    lost_ack=0.02,
    not_found=0.03,
    reject=0.01,
)
"""Modest rates: every fault fires over a run, none dominates."""


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _recovery(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_s": round(statistics.median(values), 3) if values else None,
        "p90_s": _percentile(values, 0.9),
        "max_s": round(max(values), 3) if values else None,
    }


def soak_config(config: Any, state_dir: str | None) -> Any:
    """The paper config with the council on (a kill target) and the soak's state folder."""
    council = config.council.model_copy(update={"enabled": True})
    update: dict[str, Any] = {"council": council}
    if state_dir is not None:
        update["state"] = config.state.model_copy(update={"dir": state_dir})
    return config.model_copy(update=update)


def choose_target(rng: random.Random, agents: list[str], council: bool) -> str:
    """Pick the next victim: the gateway a third of the time, else an agent or the council."""
    targets = ["gateway"] * len(agents) + [f"agent:{a}" for a in agents]
    if council:
        targets += ["council"] * max(1, len(agents) // 2)
    return rng.choice(targets)


def connect(address: str | None, namespace: str) -> None:
    """Join ``address`` or start a local Ray (no dashboard) in ``namespace``."""
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "namespace": namespace,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
    }
    if address:
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)


def kill_round(killer: Any, rng: random.Random, agents: list[str], pool: Any) -> list[Any]:
    """Kill one actor, or (half the time) two different ones at once; wait for both recoveries.

    Every choice is drawn from ``rng`` before any kill starts, so a seed fixes
    the sequence of targets, ways and moments (not their timing).
    """
    first = choose_target(rng, agents, True)
    targets = [first]
    if rng.random() < 0.5:
        others = [t for t in (*(f"agent:{a}" for a in agents), "council") if t != first]
        targets.append(rng.choice(others))
    plans = [
        (t, rng.choice(("random", "mid-order")), rng.choice(("ray", "sigkill")), rng.random())
        for t in targets
    ]
    futures = [
        pool.submit(killer.kill_once, t, at=at, way=way, rng=random.Random(s))
        for t, at, way, s in plans
    ]
    return [f.result() for f in futures]


def run_soak(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak; return its summary (see the module doc)."""
    import ray

    from chaos.check import gather, report
    from chaos.invariants import check
    from chaos.kill import Killer, KillOutcome
    from chaos.resilient import ResilientPusher
    from cli.paper import enabled_agents, finish_trading, resolve_data_dir, start_trading
    from cli.runtime import create_actor
    from core.config import SwarmConfig, load_config
    from council.actor import CouncilActor, CouncilClient
    from exchanges.feeds.actor import FeedActor
    from exchanges.paper_actor import VenueActor
    from exchanges.venue_client import VenueClient

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    config = soak_config(load_config(args.config, SwarmConfig), args.state_dir)
    agents = enabled_agents(config, args.config)
    data_dir = resolve_data_dir(config.paper.data_dir)
    speed = market_seconds(data_dir, tuple(config.paper.venues)) / (args.minutes * 60)
    connect(args.address, args.namespace)
    faults = DEFAULT_FAULTS.model_copy(update={"seed": seed}) if not args.no_faults else None

    clients = {
        name: VenueClient(
            name, create_actor("venue", f"venue:{name}", VenueActor, name, config.paper)
        )
        for name in config.paper.venues
    }
    for client in clients.values():
        if faults is not None:
            ray.get(client.handle.set_faults.remote(faults))
    feed = create_actor(
        "feed",
        "feed",
        FeedActor,
        str(data_dir),
        speed=speed,
        batch_size=config.replay.batch_size,
        max_in_flight=config.replay.max_in_flight_batches,
        venues=tuple(config.paper.venues),
    )
    gateway, plain = start_trading(config, agents, create_actor)
    pushers = {name: ResilientPusher(name, p.handle) for name, p in plain.items()}
    council = CouncilClient(
        create_actor("council", "council", CouncilActor, dict(config.council.config), tuple(agents))
    )
    state_dir = Path(gateway.status()["state_dir"])
    kill_log = state_dir / "chaos-kills.jsonl"
    params = {
        "seed": seed,
        "minutes": args.minutes,
        "speed": round(speed, 3),
        "faults": faults.model_dump() if faults else None,
        "outage_every_s": args.outage_every_s,
        "pause_s": args.pause_s,
        "namespace": args.namespace,
        "state_dir": str(state_dir),
    }
    started = time.monotonic()
    ref = feed.run.remote(clients, pushers, gateway, council)
    killer = Killer(args.namespace, timeout_s=60.0, crash_wait_s=2.0)
    outcomes: list[KillOutcome] = []
    next_outage = started + args.outage_every_s
    outages = 0
    with kill_log.open("w") as out, ThreadPoolExecutor(2) as pool:
        out.write(json.dumps({"soak": params}) + "\n")
        while not ray.wait([ref], timeout=0)[0]:
            if time.monotonic() - started > args.minutes * 60 * 1.5 + 60:
                break  # the replay is far behind its pace: stop killing, let it end
            if faults is not None and time.monotonic() >= next_outage:
                outages += 1
                outage = faults.model_copy(update={"seed": seed + outages, "outage_s": 1.0})
                ray.get(clients["bybit"].handle.set_faults.remote(outage))
                out.write(json.dumps({"outage": outages, "venue": "bybit", "s": 1.0}) + "\n")
                next_outage += args.outage_every_s
            if args.no_kills:
                time.sleep(0.2)
                continue
            for outcome in kill_round(killer, rng, list(agents), pool):
                outcomes.append(outcome)
                out.write(json.dumps(asdict(outcome)) + "\n")
            out.flush()
            time.sleep(rng.uniform(0.0, args.pause_s))
    feed_error: str | None = None
    try:
        run = ray.get(ref)
    except Exception as exc:  # reported in the summary, and the checker still runs
        feed_error = f"{type(exc).__name__}: {exc}"[:500]
        run = {}
    fired: dict[str, Any] = {}
    for name, client in clients.items():
        stats = ray.get(client.handle.clear_faults.remote())
        if stats.get("counts"):
            fired[name] = stats["counts"]
    trading = finish_trading(gateway, pushers)
    for _ in range(3):  # let unknown outcomes and late fills settle with the faults off
        gateway.poll()
        time.sleep(0.2)
    status = gateway.status()
    evidence = gather(
        state_dir,
        list(config.paper.venues),
        namespace=args.namespace,
        live_breaker=status.get("breaker"),
        final=True,
    )
    violations = report(check(evidence))
    return _summary(
        params, outcomes, run, feed_error, trading, fired, violations, evidence, started, kill_log
    )


def _summary(
    params: dict[str, Any],
    outcomes: list[Any],
    run: dict[str, Any],
    feed_error: str | None,
    trading: dict[str, Any],
    fired: dict[str, Any],
    violations: dict[str, int],
    evidence: Any,
    started: float,
    kill_log: Path,
) -> dict[str, Any]:
    recovered = [o for o in outcomes if o.recovery_s is not None]
    per_target: dict[str, list[float]] = {}
    for o in recovered:
        per_target.setdefault(o.target.split(":")[0], []).append(o.recovery_s)
    orders = evidence.engine.snapshot().orders
    return {
        "seed": params["seed"],
        "minutes": params["minutes"],
        "elapsed_s": round(time.monotonic() - started, 1),
        "kills": len(outcomes),
        "kills_per_target": dict(Counter(o.target for o in outcomes)),
        "kills_per_way": dict(Counter(o.way for o in outcomes)),
        "crash_points": dict(Counter(o.point for o in outcomes if o.point)),
        "outcomes": dict(Counter(o.outcome for o in outcomes)),
        "restarts": len(recovered),
        "recovery": _recovery([o.recovery_s for o in recovered]),
        "recovery_per_target": {t: _recovery(v) for t, v in sorted(per_target.items())},
        "orders": len(orders),
        "filled_orders": sum(1 for o in orders if o.filled > 0),
        "fills": sum(len(v.trades) for v in evidence.venues.values()),
        "unknown_at_end": sum(1 for o in orders if o.state.value == "unknown"),
        "events": run.get("events"),
        "feed_stopped_by": run.get("stopped_by"),
        "feed_error": feed_error,
        "breaker": trading.get("gateway", {}).get("breaker"),
        "agent_errors": {k: v.get("errors") for k, v in trading.get("agents", {}).items()},
        "venue_faults": fired,
        "invariants": violations,
        "violations": sum(violations.values()),
        "kill_log": str(kill_log),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--config", default="configs/paper.toml")
    parser.add_argument("--state-dir", default="var/soak", help="where the run folders go")
    parser.add_argument("--namespace", default="swarm")
    parser.add_argument("--address", default=None, help="a running Ray cluster (default: local)")
    parser.add_argument("--pause-s", type=float, default=0.15, help="max pause between kills")
    parser.add_argument("--outage-every-s", type=float, default=30.0)
    parser.add_argument("--no-faults", action="store_true", help="no venue faults")
    parser.add_argument("--no-kills", action="store_true", help="a baseline run: nothing killed")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes {args.minutes}: must be positive")
    logging.basicConfig(level=logging.WARNING)
    import os

    os.environ.setdefault("RAY_timeout_ms_task_wait_for_death_info", "200")
    try:
        summary = run_soak(args)
    finally:
        from cli.runtime import shutdown_ray

        shutdown_ray()
    print(json.dumps(summary, sort_keys=True, default=str))
    return 1 if summary["violations"] or summary["feed_error"] else 0


if __name__ == "__main__":
    sys.exit(main())
