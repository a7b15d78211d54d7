"""The live console of a paper run (rich): the feed, the paper venues, the agents, the gateway, the council."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table


def _market_time(ns: int) -> str:
    if not ns:
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_progress(
    progress: dict[str, Any],
    venues: dict[str, dict[str, Any]] | None = None,
    trading: dict[str, Any] | None = None,
) -> Group:
    """Return the console's frame: the feed's ``progress``, the venues' stats, the gateway's agents."""
    feed = progress.get("feed", {})
    elapsed = progress.get("elapsed_s") or 0.0
    rate = progress["events"] / elapsed if elapsed else 0.0
    head = Table.grid(padding=(0, 2))
    head.add_row("market time", _market_time(progress.get("market_time_ns", 0)))
    head.add_row("events", f"{progress['events']:,} ({rate:,.0f}/s)")
    head.add_row("gaps", str(feed.get("gaps", 0)))
    head.add_row("funding prints", str(feed.get("funding_events", 0)))
    head.add_row("model liquidations", str(progress.get("generated", {}).get("liquidations", 0)))
    parts: list[Any] = [Panel(head, title="feed")]
    if venues:
        table = Table(title="paper venues")
        columns = (
            ("books", "books_seen"),
            ("bars", "bars"),
            ("trades", "trades"),
            ("funding", "funding_events"),
            ("orders", "orders"),
            ("fills", "fills"),
            ("liquidations", "model_liquidations"),
        )
        table.add_column("venue")
        for title, _ in columns:
            table.add_column(title, justify="right")
        for name, stats in venues.items():
            if not any(stats.get(key) for _, key in columns):
                continue  # a venue with no data in this replay
            table.add_row(name, *(str(stats.get(key, 0)) for _, key in columns))
        parts.append(table)
    if trading:
        table = Table(
            title=f"gateway: breaker {trading['breaker']}, WAL at {trading['wal']}, "
            f"{trading.get('in_flight', 0)} orders open, {trading.get('unknown', 0)} unknown, "
            f"submit {trading.get('latency', '-')}"
        )
        columns = (
            "status",
            "weight",
            "budget",
            "position",
            "orders",
            "open",
            "filled",
            "fees",
            "pnl",
        )
        table.add_column("agent")
        for column in columns:
            table.add_column(
                column, justify="left" if column in ("status", "position") else "right"
            )
        for agent_id, row in trading["agents"].items():
            table.add_row(agent_id, *(row.get(c, "-") for c in columns))
        parts.append(table)
        idle = trading.get("idle") or {}
        if idle:
            grid = Table.grid(padding=(0, 2))
            for agent_id, reason in sorted(idle.items()):
                grid.add_row(agent_id, reason)
            parts.append(Panel(grid, title="idle agents: why no order"))
        council = trading.get("council")
        if council or trading.get("events"):
            grid = Table.grid(padding=(0, 2))
            if council:
                grid.add_row(
                    "council",
                    f"{council['decisions']} decisions, last reweighting {council['last']} "
                    f"({council['reason']})",
                )
            for line in trading.get("events", []):
                grid.add_row("", line)
            parts.append(Panel(grid, title="council and recent events"))
    return Group(*parts)
