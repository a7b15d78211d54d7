"""``python -m chaos.driver start|resume``: a paper run whose driver can die and be replaced.

Contract
    ``start`` builds the paper system with every actor **detached**
    (``ray_options={"lifetime": "detached"}`` through ``cli.runtime.create_actor``)
    so that nothing dies with this process, starts the replay, prints one JSON
    line ``{"started": ...}`` and then keeps killing random actors (gateway,
    agents) until the replay ends, then finishes like ``resume``. Kill this
    driver at any moment (SIGKILL): the system goes on without it.

    ``resume`` reattaches to the named actors of the namespace
    (``ray.get_actor(name, namespace=...)``), waits for the replay to end
    (calling the feed's ``run`` again returns the summary of the run in
    progress once it is over: it never replays twice), stops the agents, lets
    the gateway settle, runs the checker with ``final``, prints one JSON line
    and removes the detached actors (they would outlive every driver).

Exit status: 0 when every invariant holds, 1 on a violation, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from functools import partial
from typing import Any, cast

from chaos.soak import connect, market_seconds, soak_config

DETACHED = {"lifetime": "detached"}


def _detached_create(kind: str, name: str, cls: type, *args: Any, **kwargs: Any) -> Any:
    from cli.runtime import create_actor

    return create_actor(kind, name, cls, *args, ray_options=DETACHED, **kwargs)


def start(args: argparse.Namespace) -> int:
    """Build the detached system, start the replay, kill actors until it ends, then finish."""
    import ray

    from chaos.kill import Killer
    from chaos.resilient import ResilientPusher
    from cli.paper import enabled_agents, resolve_data_dir, start_trading
    from core.config import SwarmConfig, load_config
    from exchanges.feeds.actor import FeedActor
    from exchanges.paper_actor import VenueActor
    from exchanges.venue_client import VenueClient

    config = soak_config(load_config(args.config, SwarmConfig), args.state_dir)
    config = config.model_copy(
        update={"council": config.council.model_copy(update={"enabled": False})}
    )
    agents = enabled_agents(config, args.config)
    connect(args.address, args.namespace)
    clients = {
        name: VenueClient(
            name, _detached_create("venue", f"venue:{name}", VenueActor, name, config.paper)
        )
        for name in config.paper.venues
    }
    data_dir = resolve_data_dir(config.paper.data_dir)
    feed = _detached_create(
        "feed",
        "feed",
        FeedActor,
        str(data_dir),
        speed=market_seconds(data_dir, tuple(config.paper.venues)) / (args.minutes * 60),
        batch_size=config.replay.batch_size,
        max_in_flight=config.replay.max_in_flight_batches,
        venues=tuple(config.paper.venues),
    )
    gateway, plain = start_trading(config, agents, _detached_create)
    pushers = {name: ResilientPusher(name, p.handle) for name, p in plain.items()}
    ref = feed.run.remote(clients, pushers, gateway, None)
    status = gateway.status()
    print(
        json.dumps({"started": True, "state_dir": status["state_dir"], "agents": sorted(agents)}),
        flush=True,
    )
    rng = random.Random(args.seed)
    killer = Killer(args.namespace, timeout_s=60.0, crash_wait_s=2.0)
    kills = 0
    while not ray.wait([ref], timeout=0)[0]:
        if args.no_kills:  # the system runs on; chaos.kill may be pointed at it meanwhile
            time.sleep(0.2)
            continue
        target = rng.choice(["gateway", *(f"agent:{a}" for a in agents)])
        outcome = killer.kill_once(target, at="random", way=rng.choice(("ray", "sigkill")), rng=rng)
        kills += 1
        print(json.dumps({"kill": kills, "target": target, "outcome": outcome.outcome}), flush=True)
        time.sleep(rng.uniform(0.2, 0.6))
    return finish(args, list(agents), list(config.paper.venues), driver="start")


def finish(args: argparse.Namespace, agents: list[str], venues: list[str], *, driver: str) -> int:
    """Wait for the replay, stop the agents, settle, check; remove the detached actors."""
    import ray

    from chaos.check import gather, report
    from chaos.invariants import check
    from cli.paper import finish_trading
    from exchanges.venue_client import EventPusher
    from gateway.client import GatewayClient

    namespace = args.namespace
    feed = ray.get_actor("feed", namespace=namespace)
    # Calling run again returns the summary of the run in progress, once it is over.
    run = cast(dict[str, Any], ray.get(feed.run.remote({}, {}, None, None)))
    gateway = GatewayClient(namespace=namespace, deadline_s=60)
    gateway.wait_ready(60)
    pushers = {a: EventPusher(a, ray.get_actor(f"agent:{a}", namespace=namespace)) for a in agents}
    trading = finish_trading(gateway, pushers)
    for _ in range(3):
        gateway.poll()
        time.sleep(0.2)
    status = gateway.status()
    from pathlib import Path

    evidence = gather(
        Path(status["state_dir"]),
        venues,
        namespace=namespace,
        live_breaker=status.get("breaker"),
        final=True,
    )
    violations = report(check(evidence))
    summary = {
        "driver": driver,
        "events": run.get("events"),
        "stopped_by": run.get("stopped_by"),
        "orders": len(evidence.engine.snapshot().orders),
        "breaker": trading["gateway"]["breaker"],
        "invariants": violations,
        "violations": sum(violations.values()),
    }
    for name in [
        "feed",
        "gateway",
        *(f"agent:{a}" for a in agents),
        *(f"venue:{v}" for v in venues),
    ]:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        except ValueError:
            pass
    print(json.dumps(summary, sort_keys=True, default=str), flush=True)
    return 1 if summary["violations"] else 0


def resume(args: argparse.Namespace) -> int:
    """Reattach to a running detached system and finish it."""
    from cli.paper import enabled_agents
    from core.config import SwarmConfig, load_config

    config = soak_config(load_config(args.config, SwarmConfig), args.state_dir)
    agents = list(enabled_agents(config, args.config))
    connect(args.address, args.namespace)
    return finish(args, agents, list(config.paper.venues), driver="resume")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.driver", description=__doc__)
    parser.add_argument("command", choices=("start", "resume"))
    parser.add_argument("--address", required=True, help="the Ray cluster (ray start --head)")
    parser.add_argument("--namespace", default="swarm")
    parser.add_argument("--minutes", type=float, default=1.0, help="how long the replay lasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-kills", action="store_true", help="start: kill nothing")
    parser.add_argument("--config", default="configs/paper.toml")
    parser.add_argument("--state-dir", default="var/soak")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = partial(start if args.command == "start" else resume, args)
    try:
        return command()
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
