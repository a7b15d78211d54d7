"""``python main.py --paper``: the paper system on Ray, replaying recorded data through the paper venues.

What runs (DESIGN.md "The actors"): one ``venue:<name>`` actor per configured
venue and the ``feed`` actor, named in the ``swarm`` namespace. The gateway,
agents and council join in later issues. The run ends at the end of the data,
after ``--duration`` seconds, or on Ctrl+C (the feed stops after its batch in
flight, the venues settle what they were sent, the summary is printed).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from core.config import SwarmConfig
from core.errors import DataFormatError, SwarmError
from exchanges.feeds.pacing import parse_speed

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


def run_paper(args: Any, config: SwarmConfig) -> int:
    """Run the paper system; return the process exit code."""
    from exchanges.feeds.replay import ReplayFeed

    data_dir = resolve_data_dir(args.data or config.paper.data_dir)
    speed = parse_speed(args.speed if args.speed is not None else config.replay.speed)
    # Discover the files in the driver first: a bad directory fails before Ray starts.
    files = ReplayFeed(data_dir).files()
    venues_in_data = sorted({f.venue for f in files if f.venue})

    import ray

    from cli.console import render_progress
    from cli.runtime import create_actor, shutdown_ray, start_ray
    from exchanges.feeds.actor import FeedActor
    from exchanges.paper_actor import VenueActor
    from exchanges.venue_client import VenueClient

    start_ray(config.ray, address=args.address, dashboard=args.dashboard)
    try:
        clients = {
            name: VenueClient(
                name, create_actor("venue", f"venue:{name}", VenueActor, name, config.paper)
            )
            for name in config.paper.venues
        }
        feed = create_actor(
            "feed",
            "feed",
            FeedActor,
            str(data_dir),
            speed=speed,
            batch_size=config.replay.batch_size,
            max_in_flight=config.replay.max_in_flight_batches,
            duration_s=args.duration,
            venues=tuple(config.paper.venues),
        )
        ref = feed.run.remote(clients)
        try:
            if args.no_tui or args.json:
                ray.get(ref)
            else:
                _watch(ref, feed, clients, render_progress)
        except KeyboardInterrupt:
            print("stopping: the feed ends after its batch in flight", file=sys.stderr)
            feed.stop.remote()
        try:
            run = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            raise cause from None
        stats = {name: client.stats() for name, client in clients.items()}
        conservation = {name: client.check_conservation() for name, client in clients.items()}
    finally:
        shutdown_ray()
    summary = summarize(run, stats, conservation)
    summary["venues_with_data"] = venues_in_data
    if args.json:
        print(json.dumps(summary, default=str, sort_keys=True))
    else:
        print(
            json.dumps({k: v for k, v in summary.items() if k != "venues"}, default=str, indent=2)
        )
    return 0 if summary["conservation_errors"] == 0 else 1


def _watch(ref: Any, feed: Any, clients: dict[str, Any], render: Any) -> None:
    import ray
    from rich.live import Live

    with Live(refresh_per_second=4, transient=False) as live:
        while True:
            ready, _ = ray.wait([ref], timeout=0.25)
            progress = ray.get(feed.progress.remote())
            live.update(render(progress, {name: c.stats() for name, c in clients.items()}))
            if ready:
                return
            time.sleep(0.25)


def report_error(exc: SwarmError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2
