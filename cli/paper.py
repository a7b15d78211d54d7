"""``python main.py --paper``: the paper system on Ray, replaying recorded data through the paper venues.

What runs (DESIGN.md "The actors"): one ``venue:<name>`` actor per configured
venue and the ``feed`` actor, named in the ``swarm`` namespace. The gateway,
agents and council join in later issues. The run ends at the end of the data,
after ``--duration`` seconds, or on Ctrl+C (the feed stops after its batch in
flight, the venues settle what they were sent, the summary is printed).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.config import SwarmConfig
from core.errors import DataFormatError, SwarmError
from exchanges.feeds.pacing import parse_speed
from exchanges.feeds.subscriptions import bind_agents

ROOT = Path(__file__).resolve().parent.parent


def resolve_data_dir(value: str) -> Path:
    """Return the data directory (relative paths are taken from the project root first)."""
    path = Path(value)
    if not path.is_absolute() and not path.exists() and (ROOT / path).exists():
        path = ROOT / path
    if not path.is_dir():
        raise DataFormatError(path, "no such data directory")
    return path


def summarize(
    run: dict[str, Any], venues: dict[str, dict[str, Any]], conservation: dict[str, list[str]]
) -> dict[str, Any]:
    """Build the final JSON summary of a paper run."""
    feed = run["feed"]
    return {
        "mode": "paper",
        "data_dir": run["data_dir"],
        "stopped_by": run["stopped_by"],
        "events": run["events"],
        "books": sum(int(v.get("books_seen", 0)) for v in venues.values()),
        "book_updates": feed.get("book_deltas", 0) + feed.get("top_of_book", 0),
        "gaps": feed.get("gaps", 0),
        "funding_events": feed.get("funding_events", 0),
        "funding_applied": sum(int(v.get("funding_events", 0)) for v in venues.values()),
        "trades": feed.get("trades", 0),
        "bars": feed.get("bars", 0),
        "model_liquidations": run["generated"].get("liquidations", 0),
        "elapsed_s": run["elapsed_s"],
        "events_per_s": run["events_per_s"],
        "conservation_errors": sum(len(v) for v in conservation.values()),
        "venues": venues,
    }


RUN_FILE = "run.json"
"""Written when a paper run stops cleanly: what ``--resume`` needs besides the WAL."""


def resolve_resume(value: str, config: SwarmConfig) -> tuple[Path, dict[str, Any]]:
    """Return the run directory to resume (``latest``: the newest under ``[state] dir``) and its
    ``run.json``; ``DataFormatError`` names the directory when it cannot be resumed."""
    base = ROOT / config.state.dir
    if value == "latest":
        runs = sorted(base.glob("run-*"))
        if not runs:
            raise DataFormatError(base, "no paper run to resume")
        run_dir = runs[-1]
    else:
        run_dir = Path(value)
    meta_path = run_dir / RUN_FILE
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise DataFormatError(
            run_dir,
            f"no {RUN_FILE}: the run did not stop cleanly, so its paper venues were not saved "
            "(its WAL is intact; start a fresh run)",
        ) from None
    except (OSError, ValueError) as exc:
        raise DataFormatError(meta_path, f"unreadable: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("market_time_ns"), int):
        raise DataFormatError(meta_path, "no market_time_ns")
    return run_dir, meta


def write_run_file(run_dir: Path, meta: dict[str, Any]) -> None:
    """Write ``run.json`` atomically (a half-written one would make the run unresumable)."""
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, sort_keys=True, indent=1))
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, run_dir / RUN_FILE)


def run_paper(args: Any, config: SwarmConfig) -> int:
    """Run the paper system; return the process exit code."""
    from exchanges.feeds.replay import ReplayFeed

    live = getattr(args, "feed", "replay") == "live"
    resume = getattr(args, "resume", None)
    if live and (resume or args.lockstep or args.data or args.speed is not None):
        from core.errors import ConfigError

        flag = (
            "--resume"
            if resume
            else "--lockstep"
            if args.lockstep
            else "--data"
            if args.data
            else "--speed"
        )
        raise ConfigError(args.config, "feed", "live", f"{flag} needs recorded data")
    run_dir, meta = resolve_resume(resume, config) if resume else (None, {})
    if meta and args.data and resolve_data_dir(args.data) != Path(meta["data_dir"]):
        raise DataFormatError(args.data, f"the resumed run replays {meta['data_dir']}")
    if run_dir is None:
        run_dir = ROOT / config.state.dir / time.strftime("run-%Y%m%dT%H%M%SZ", time.gmtime())
    agents = enabled_agents(config, args.config)  # a bad agent config fails before Ray starts
    bindings: list[str] = []
    unserved: dict[str, str] = {}
    # Discover the data in the driver first: a bad directory or market fails before Ray starts.
    if live:
        from exchanges.feeds.bridge import check_paper_markets
        from exchanges.feeds.live import LiveFeedConfig
        from exchanges.feeds.subscriptions import live_subscriptions

        subscriptions = check_paper_markets(live_subscriptions(agents))
        data_dir = None
        speed = None
        venues_in_data = sorted({venue for venue, _ in subscriptions})
        source: dict[str, Any] = {
            "source": "live",
            "subscriptions": subscriptions,
            "live": LiveFeedConfig(),
        }
    else:
        data_dir = resolve_data_dir(meta.get("data_dir") or args.data or config.paper.data_dir)
        speed = parse_speed(args.speed if args.speed is not None else config.replay.speed)
        files = ReplayFeed(data_dir).files()
        venues_in_data = sorted({f.venue for f in files if f.venue})
        agents, bindings, unserved = bind_agents(agents, files, config.paper.venues)
        for line in bindings:
            print(f"bound to the data: {line}", file=sys.stderr)
        for agent_id, reason in unserved.items():
            print(f"{agent_id} will not trade: {reason}", file=sys.stderr)
        # A resumed run replays from just after where the saved venues stopped.
        source = {"start_ns": meta["market_time_ns"] + 1} if meta else {}

    variants = council_variants(config, args.config, agents)  # a bad council config fails here
    import ray

    from cli.console import render_progress
    from cli.runtime import create_actor, shutdown_ray, start_ray
    from cli.supervisor import AgentSupervisor
    from exchanges.feeds.actor import FeedActor
    from exchanges.paper_actor import VenueActor
    from exchanges.venue_client import VenueClient
    from gateway.client import GatewayUnavailable

    ray_facts = start_ray(config.ray, address=args.address, dashboard=args.dashboard)
    if ray_facts.get("dashboard_url") and not args.json:
        print(f"ray dashboard: http://{ray_facts['dashboard_url']}", file=sys.stderr)
    joined = bool(ray_facts.get("joined"))
    try:
        saved = run_dir / "venues"
        clients = {
            name: VenueClient(
                name,
                create_actor(
                    "venue",
                    f"venue:{name}",
                    VenueActor,
                    name,
                    config.paper,
                    str(saved / f"{name}.state") if meta else None,
                ),
            )
            for name in config.paper.venues
        }
        feed = create_actor(
            "feed",
            "feed",
            FeedActor,
            str(data_dir) if data_dir is not None else None,
            speed=speed,
            batch_size=config.replay.batch_size,
            max_in_flight=config.replay.max_in_flight_batches,
            duration_s=args.duration,
            venues=tuple(config.paper.venues),
            lockstep=args.lockstep,
            **source,
        )
        recipes: dict[str, Any] = {}
        gateway, pushers = (
            start_trading(
                config,
                agents,
                create_actor,
                lockstep=args.lockstep,
                variants=variants,
                run_dir=run_dir,
                resumed=bool(meta),
                recipes=recipes,
            )
            if agents
            else (None, {})
        )
        council = start_council(config, agents, create_actor) if agents else None
        supervisor = (
            AgentSupervisor(
                pushers,
                recipes,
                sent=lambda: int(gateway.status().get("stats", {}).get("sends", 0)),
                replaced=lambda name, handle: ray.get(
                    feed.replace_agent.remote(name, handle), timeout=10
                ),
            )
            if pushers and gateway is not None
            else None
        )
        exporter = None
        if gateway is not None and config.metrics.enabled:
            from cli.metrics import start_exporter

            exporter = start_exporter(config, gateway, list(agents), feed)
            if exporter.url and not args.json:
                print(f"metrics: {exporter.url}", file=sys.stderr)
        from cli.alerts import start_alerts

        cockpit = None
        alerts = start_alerts(config) if gateway is not None else None
        if gateway is not None and (config.cockpit.enabled or alerts is not None):
            from cli.cockpit.server import start_cockpit

            cockpit = start_cockpit(
                config,
                gateway=gateway,
                council=council,
                agent_handles={name: p.handle for name, p in pushers.items()},
                venues=clients,
                progress=lambda: ray.get(feed.progress.remote(), timeout=5),
                alerts=alerts,
                serve=config.cockpit.enabled,
            )
            if cockpit.url:  # the one place the token is written: the operator's URL
                print(f"dashboard: {cockpit.url}", file=sys.stderr, flush=True)
        ref = feed.run.remote(clients, dict(pushers), gateway, council)
        if supervisor is not None:
            print(f"supervising {len(pushers)} agents", file=sys.stderr, flush=True)
        with _StopOnInterrupt() as interrupt:
            # No KeyboardInterrupt inside a Ray call: the first Ctrl+C only asks the feed
            # to stop after its batch in flight; a second one aborts the driver.
            if args.no_tui or args.json:
                while not ray.wait([ref], timeout=0.25)[0]:
                    interrupt.forward(feed)
                    if supervisor is not None and supervisor.due():
                        supervisor.check(ray.get(feed.progress.remote(), timeout=10))
            else:
                _watch(
                    ref,
                    feed,
                    clients,
                    render_progress,
                    gateway,
                    council,
                    interrupt,
                    pushers,
                    supervisor,
                )
        gateway_lost: str | None = None
        try:
            run = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            if not isinstance(cause, GatewayUnavailable):
                raise cause from None
            # The gateway's node is gone: nothing can be sent, the run cannot go on.
            gateway_lost = f"gateway lost: {cause}"
            print(f"stopping: {gateway_lost}", file=sys.stderr, flush=True)
            run = _run_so_far(ray.get(feed.progress.remote(), timeout=10), data_dir, gateway_lost)
        if exporter is not None:
            exporter.stop()
        if cockpit is not None:
            cockpit.stop()
        if alerts is not None:
            alerts.close()
        losses = supervisor.finish() if supervisor is not None and gateway_lost is None else {}
        if gateway_lost is not None:
            agent_summary = {"agents_stopped": stop_agents(pushers)}
        else:
            agent_summary = finish_trading(gateway, pushers) if gateway is not None else {}
        if council is not None and gateway_lost is None:
            agent_summary["council"] = council_summary(council.history())
        stats, conservation = venue_reports(clients)
        if gateway is not None and data_dir is not None and gateway_lost is None:
            # clean stop: what --resume needs
            market_ns = ray.get(feed.progress.remote())["market_time_ns"]
            for name, client in clients.items():
                ray.get(client.handle.save.remote(str(saved / f"{name}.state")))
            write_run_file(
                run_dir,
                {
                    "data_dir": str(data_dir),
                    "market_time_ns": max(market_ns, meta.get("market_time_ns", 0)),
                    "events": run["events"] + meta.get("events", 0),
                    "stopped_by": run["stopped_by"],
                    "resumed": meta.get("resumed", 0) + (1 if meta else 0),
                },
            )
    finally:
        if joined:  # on a cluster the actors outlive this driver: end this run's (not others')
            _end_run_actors(config, agents, variants)
        shutdown_ray()
    summary = summarize(run, stats, conservation)
    summary.update(agent_summary)
    if supervisor is not None:
        summary.update(losses or supervisor.ledger.summary())
    summary["venues_with_data"] = venues_in_data
    summary["bound_to_data"] = bindings
    for agent_id, reason in unserved.items():  # the data, not the strategy, held these back
        row = summary.get("agents", {}).get(agent_id)
        if row is not None and not row.get("orders"):
            row["idle_reason"] = reason
    summary["run_dir"] = str(run_dir)
    summary["resumed_from_ns"] = meta.get("market_time_ns")
    if args.json:
        print(json.dumps(summary, default=str, sort_keys=True))
    else:
        print(
            json.dumps({k: v for k, v in summary.items() if k != "venues"}, default=str, indent=2)
        )
    if gateway_lost is not None:
        return EXIT_GATEWAY_LOST
    return 0 if summary["conservation_errors"] == 0 else 1


EXIT_GATEWAY_LOST = 3
"""The exit code of a paper run stopped because its gateway (its node) was lost."""


def _run_so_far(progress: dict[str, Any], data_dir: Path | None, reason: str) -> dict[str, Any]:
    """The feed's counters as a run summary, for a run that could not go on."""
    elapsed = float(progress.get("elapsed_s") or 0.0)
    events = int(progress.get("events", 0))
    return {
        "data_dir": str(data_dir) if data_dir is not None else None,
        "stopped_by": reason,
        "events": events,
        "elapsed_s": elapsed,
        "events_per_s": round(events / elapsed) if elapsed > 0 else None,
        "feed": progress.get("feed", {}),
        "generated": progress.get("generated", {}),
    }


def venue_reports(
    clients: Mapping[str, Any],
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """Every venue's stats and conservation check; a lost venue's balances cannot be
    checked, which counts as a conservation error (the summary says why)."""
    from exchanges.venue_client import lost_actor_errors

    stats: dict[str, dict[str, Any]] = {}
    conservation: dict[str, list[str]] = {}
    for name, client in clients.items():
        try:
            stats[name] = client.stats()
            conservation[name] = client.check_conservation()
        except lost_actor_errors() as exc:
            stats[name] = {"lost": f"{type(exc).__name__}"}
            conservation[name] = [f"venue {name} lost: its balances could not be checked"]
    return stats, conservation


def _end_run_actors(config: SwarmConfig, agents: dict[str, Any], variants: tuple[Any, ...]) -> None:
    """Kill the named actors of this paper run (the detached gateway would stay behind)."""
    import ray

    names = [
        *(f"venue:{v}" for v in config.paper.venues),
        "feed",
        "council",
        "gateway",
        *(f"agent:{a}" for a in agents),
        *(f"agent:{v.agent_id}" for v in variants),
    ]
    for name in names:
        try:
            ray.kill(ray.get_actor(name), no_restart=True)
        except (ValueError, ray.exceptions.RayError):
            pass  # not created, or already gone


def enabled_agents(config: SwarmConfig, config_path: str) -> dict[str, Any]:
    """Return the enabled agents' specs after validating each strategy's config (ConfigError names the key)."""
    from agents.registry import build_strategy
    from core.errors import ConfigError

    specs = {}
    for agent_id, spec in config.agents.items():
        if not spec.enabled:
            continue
        settings = {"agent_id": agent_id, **spec.config}
        if settings["agent_id"] != agent_id:
            raise ConfigError(
                config_path,
                f"agents.{agent_id}.config.agent_id",
                settings["agent_id"],
                "must equal the section's name",
            )
        try:
            build_strategy(spec.kind, settings, f"{config_path} [agents.{agent_id}.config]")
        except ConfigError as exc:
            raise ConfigError(
                config_path, f"agents.{agent_id}.config.{exc.key}", exc.value, exc.reason
            ) from None
        specs[agent_id] = spec
    return specs


def council_variants(
    config: SwarmConfig, config_path: str, agents: dict[str, Any]
) -> tuple[Any, ...]:
    """Validate the council's config (ConfigError names the key); return its shadow variants."""
    if not config.council.enabled:
        return ()
    from agents.registry import build_strategy
    from core.config import validate_config
    from core.errors import ConfigError
    from council.core import CouncilConfig

    where = f"{config_path} [council.config]"
    council = validate_config(config.council.config, CouncilConfig, where)
    for variant in council.variants:
        spec = agents.get(variant.of)
        if spec is None:
            raise ConfigError(
                config_path,
                f"council.config.variants.{variant.name}.of",
                variant.of,
                "is not an enabled agent",
            )
        build_strategy(
            spec.kind, {**spec.config, **variant.config, "agent_id": variant.agent_id}, where
        )
    return council.variants


def start_trading(
    config: SwarmConfig,
    agents: dict[str, Any],
    create_actor: Any,
    *,
    lockstep: bool = False,
    variants: tuple[Any, ...] = (),
    run_dir: Path | None = None,
    resumed: bool = False,
    recipes: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Start the gateway, the agents and the shadow variants; set the starting budgets.

    ``recipes`` (filled when given): agent id -> how to create that agent again
    (``cli.runtime.replace_actor`` with its settings; ``cli.supervisor`` calls it with
    ``replacing=<the lost handle>`` when the agent's node died).

    The gateway's state lives in ``run_dir`` (default: a fresh ``run-<UTC>`` folder: a
    paper run starts fresh paper accounts). ``resumed``: the gateway recovers ``run_dir``'s
    WAL and the budgets in force are the ones it logged, not the config's.
    """
    from functools import partial

    from agents.actor import AgentActor, ShadowSettings
    from cli.runtime import replace_actor
    from exchanges.venue_client import EventPusher
    from gateway.actor import GatewayActor, GatewaySettings, tuning_of
    from gateway.client import GatewayClient
    from risk.limits import limits_of

    limits = limits_of(config)
    if run_dir is None:
        run_dir = ROOT / config.state.dir / time.strftime("run-%Y%m%dT%H%M%SZ", time.gmtime())
    engine_config, checkpoints = tuning_of(config.gateway)
    settings = GatewaySettings(
        state_dir=str(run_dir),
        venues=tuple(config.paper.venues),
        limits=limits,
        engine=engine_config,
        checkpoints=checkpoints,
        # Lockstep: time is the replay's and fills are polled after each instant.
        clock="market" if lockstep else "real",
        poll_interval_s=None if lockstep else 0.05,
    )
    create_actor("gateway", "gateway", GatewayActor, settings)
    gateway = GatewayClient(deadline_s=60)
    gateway.wait_ready(60)
    if not resumed:
        gateway.set_budgets({agent_id: spec.budget for agent_id, spec in agents.items()})
    pushers = {
        agent_id: EventPusher(
            agent_id,
            create_actor(
                "agent",
                f"agent:{agent_id}",
                AgentActor,
                spec.kind,
                {"agent_id": agent_id, **spec.config},
            ),
            actor_name=f"agent:{agent_id}",
        )
        for agent_id, spec in agents.items()
    }
    if recipes is not None:
        for agent_id, spec in agents.items():
            recipes[agent_id] = partial(
                replace_actor,
                "agent",
                f"agent:{agent_id}",
                AgentActor,
                spec.kind,
                {"agent_id": agent_id, **spec.config},
            )
    for variant in variants:  # shadows: zero capital from the fund, a private paper market each
        spec = agents[variant.of]
        shadow = ShadowSettings(budget=spec.budget, paper=config.paper, limits=limits)
        settings = {**spec.config, **variant.config, "agent_id": variant.agent_id}
        name = f"agent:{variant.agent_id}"
        handle = create_actor("agent", name, AgentActor, spec.kind, settings, shadow=shadow)
        pushers[variant.agent_id] = EventPusher(variant.agent_id, handle, actor_name=name)
        if recipes is not None:
            recipes[variant.agent_id] = partial(
                replace_actor, "agent", name, AgentActor, spec.kind, settings, shadow=shadow
            )
    return gateway, pushers


def start_council(config: SwarmConfig, agents: dict[str, Any], create_actor: Any) -> Any:
    """Start the council when the config enables it; return its client (None when off)."""
    if not config.council.enabled:
        return None
    from council.actor import CouncilActor, CouncilClient

    settings = {agent_id: {**spec.config} for agent_id, spec in agents.items()}
    handle = create_actor(
        "council", "council", CouncilActor, dict(config.council.config), tuple(agents), settings
    )
    return CouncilClient(handle)


def council_summary(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The council's decisions for the summary: every reweighting with its reason, every vote."""
    return {
        "decisions": len(history),
        "reweights": [
            {
                "ts_ns": d["ts_ns"],
                "budgets": d["budgets"],
                "reason": (d["allocation"] or {}).get("reason"),
                "weights": (d["allocation"] or {}).get("weights"),
            }
            for d in history
            if d["budgets"]
        ],
        "votes": [dict(v, ts_ns=d["ts_ns"]) for d in history for v in d["votes"]],
        "promotions": [dict(p, ts_ns=d["ts_ns"]) for d in history for p in d.get("promotions", ())],
    }


IDLE_REFRESH_S = 2.0
"""How often the console asks the agents why they are idle (each ask is one call per agent)."""


def agent_stats(pushers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return every agent's ``stats()`` that answers within 2 s (one call per agent)."""
    import ray

    found: dict[str, dict[str, Any]] = {}
    for name, pusher in pushers.items():
        try:
            found[name] = ray.get(pusher.handle.stats.remote(), timeout=2.0)
        except Exception:  # the console must not die with an agent being restarted
            continue
    return found


def idle_reasons(
    pushers: dict[str, Any], stats: dict[str, dict[str, Any]] | None = None
) -> dict[str, str]:
    """Return the idle reason of every agent that has placed no order yet."""
    from agents.idle import idle_reason_of

    found: dict[str, str] = {}
    for name, row in (agent_stats(pushers) if stats is None else stats).items():
        reason = idle_reason_of(row, int(row.get("places", 0)))
        if reason:
            found[name] = reason
    return found


STOP_DEADLINE_S = 30.0
"""How long the end of a run waits for each agent to stop (cancel its orders) and report."""


def stop_agents(pushers: dict[str, Any]) -> dict[str, str]:
    """Tell every agent to stop (its open orders are canceled); return each one's outcome
    ("stopped", or why it could not be reached)."""
    from agents.client import AgentClient, AgentUnavailable

    outcome: dict[str, str] = {}
    for name, pusher in pushers.items():
        try:
            AgentClient(name, pusher.handle, deadline_s=STOP_DEADLINE_S).stop()
            outcome[name] = "stopped"
        except AgentUnavailable as exc:
            outcome[name] = f"unreachable: {exc}"
    return outcome


def finish_trading(gateway: Any, pushers: dict[str, Any]) -> dict[str, Any]:
    """Stop the agents (their open orders are canceled), settle fills, and report per agent
    (an agent that cannot be reached is reported ``unreachable``, from the gateway's books)."""
    from agents.client import AgentClient, AgentUnavailable
    from agents.idle import idle_reason_of

    stopped = stop_agents(pushers)
    gateway.poll()
    agent_stats: dict[str, dict[str, Any]] = {}
    scores: dict[str, Any] = {}
    for name, pusher in pushers.items():
        client = AgentClient(name, pusher.handle, deadline_s=STOP_DEADLINE_S)
        try:
            agent_stats[name] = client.stats()
            scores[name] = client.score()
        except AgentUnavailable as exc:
            stopped[name] = f"unreachable: {exc}"
            agent_stats[name] = {
                "status": "unreachable",
                "decisions": None,
                "denied": None,
                "errors": None,
                "last_denial": None,
            }
            scores[name] = None
    shadows = {
        name: dict(agent_stats.pop(name), **{k: str(v) for k, v in score.items()})
        for name, score in scores.items()
        if score is not None
    }
    snapshot = gateway.snapshot()
    per_agent: dict[str, Any] = {}
    for name, stats in agent_stats.items():
        view = snapshot.agents.get(name)
        orders = [o for o in snapshot.orders if o.agent_id == name]
        # Terminal orders leave the gateway's table after [gateway] order_retention_s
        # (market time); their keys stay, and count here as what the agent placed.
        retired, retired_filled = snapshot.retired_by_agent.get(name, (0, 0))
        per_agent[name] = {
            "status": stats["status"],
            "decisions": stats["decisions"],
            "orders": len(orders) + retired,
            "filled_orders": sum(1 for o in orders if o.filled > 0) + retired_filled,
            "denied": stats["denied"],
            "errors": stats["errors"],
            "last_denial": stats["last_denial"],
            "fees": {k: str(v) for k, v in view.fees.items()} if view else {},
            "funding": {k: str(v) for k, v in view.funding.items()} if view else {},
            "realized": str(view.realized) if view else "0",
            "unrealized": str(view.unrealized) if view else "0",
            "pnl": str(view.pnl) if view else "0",
            "budget": str(view.budget) if view else "0",
            "idle_reason": (
                idle_reason_of(stats, len(orders) + retired)
                if stats["status"] != "unreachable"
                else stopped[name]
            ),
        }
    status = gateway.status()
    return {
        "agents": per_agent,
        "shadows": shadows,
        "gateway": {
            "breaker": status.get("breaker"),
            "state_dir": status.get("state_dir"),
            "wal_records": status.get("wal_committed_seq"),
            "orders": len(snapshot.orders),
            "counters": snapshot.counters,
        },
    }


class _StopOnInterrupt:
    """While active, the first SIGINT (Ctrl+C) is a request to stop cleanly; the second aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._sent = False
        self._previous: Any = None

    def __enter__(self) -> _StopOnInterrupt:
        self._previous = signal.signal(signal.SIGINT, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def forward(self, feed: Any) -> None:
        """Tell the feed to stop once, after a request (called from the driver's wait loop)."""
        if self.requested and not self._sent:
            self._sent = True
            print("stopping: the feed ends after its batch in flight", file=sys.stderr)
            feed.stop.remote()


def _watch(
    ref: Any,
    feed: Any,
    clients: Mapping[str, Any],
    render: Any,
    gateway: Any = None,
    council: Any = None,
    interrupt: _StopOnInterrupt | None = None,
    pushers: dict[str, Any] | None = None,
    supervisor: Any = None,
) -> None:
    import ray
    from rich.live import Live

    from cli.cockpit.views import pause_status

    idle: dict[str, str] = {}
    statuses: dict[str, str] = {}
    asked = 0.0
    with Live(refresh_per_second=4, transient=False) as live:
        while True:
            if interrupt is not None:
                interrupt.forward(feed)
            ready, _ = ray.wait([ref], timeout=0.25)
            progress = ray.get(feed.progress.remote())
            if supervisor is not None and supervisor.due():
                supervisor.check(progress)
            if pushers and time.monotonic() - asked > IDLE_REFRESH_S:
                stats = agent_stats(pushers)
                idle, asked = idle_reasons(pushers, stats), time.monotonic()
                statuses = {name: pause_status(row) for name, row in stats.items()}
            trading = _trading_view(gateway, council, statuses) if gateway is not None else None
            if trading is not None:
                trading["idle"] = idle
            live.update(render(progress, {name: c.stats() for name, c in clients.items()}, trading))
            if ready:
                return
            time.sleep(0.25)


def _trading_view(
    gateway: Any, council: Any = None, statuses: dict[str, str] | None = None
) -> dict[str, Any]:
    """The console's view of the trading side (``cli.cockpit.views.trading_view``)."""
    from cli.cockpit.views import trading_view

    history = council.history() if council is not None else None
    return trading_view(gateway.snapshot(), gateway.status(), history, statuses)


def report_error(exc: SwarmError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2
