"""``python main.py backtest``: the paper run's cores in one process at full speed, with its report.

Runs ``backtest.runner.run_backtest`` (venues, gateway service, agents and the
council when the config turns it on, on a simulated clock) over a data set,
with a progress bar on stderr, then reports per agent and in total: return,
Sharpe, Sortino, max drawdown, profit factor, CVaR 95%, turnover, fees and
funding (``backtest.summary``). Deterministic: the same data, config and
``--seed`` give the same report (the wall-clock figures ``elapsed_s`` and
``events_per_s`` aside).

``--walk-forward N`` splits the run's span into N equal folds and reports each
fold's figures on its own window. It is one continuous run: agents and council
carry forward only what they learned from the past, so every fold is out of
sample for the state it starts with.

``--html FILE`` (default ``<state.dir>/backtest-<UTC>.html``) writes a
self-contained page with the equity curves, drawdowns and weight history.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtest.html import render_html
from backtest.runner import run_backtest
from backtest.summary import performance_report, series_from_backtest
from core.config import SwarmConfig
from core.errors import InvalidValue
from risk.limits import limits_of

ROOT = Path(__file__).resolve().parent.parent
MIN_SAMPLE_NS = 1_000_000_000
SAMPLES = 200


def scan_data(
    data_dir: Path, venues: Sequence[str], symbols: Sequence[str] | None
) -> tuple[int, int, int]:
    """Return (events, first_ns, last_ns) of the data (a pass of the replay alone: cheap)."""
    from exchanges.feeds.replay import ReplayFeed

    events, first, last = 0, 0, 0
    for event in ReplayFeed(data_dir, symbols=symbols, venues=venues):
        if not events:
            first = event.ts_ns
        last = max(last, event.ts_ns)
        events += 1
    if not events:
        raise InvalidValue("data", str(data_dir), "holds no event for the configured venues")
    return events, first, last


def default_sample_ns(first_ns: int, last_ns: int) -> int:
    """About ``SAMPLES`` equity samples over the span, at least one a second of market time."""
    return max(MIN_SAMPLE_NS, (last_ns - first_ns) // SAMPLES)


def _progress_bar(total: int, enabled: bool) -> tuple[Any, Callable[[int, int], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("backtest"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[market]}"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
    task = progress.add_task("backtest", total=total, market="")

    def update(events: int, ts_ns: int) -> None:
        market = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_ns / 1e9))
        progress.update(task, completed=events, market=f"market {market} UTC")

    return progress, update


def backtest_report(
    config: SwarmConfig,
    config_path: str,
    *,
    data: str | None = None,
    agent_ids: Sequence[str] | None = None,
    symbols: Sequence[str] | None = None,
    seed: int | None = None,
    walk_forward: int = 0,
    sample_s: float | None = None,
    show_progress: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the backtest; return (the report, the runner's raw report with its equity series)."""
    from cli.paper import enabled_agents, resolve_data_dir

    if walk_forward < 0:
        raise InvalidValue("--walk-forward", walk_forward, "must be >= 0")
    data_dir = resolve_data_dir(data or config.paper.data_dir)
    agents = enabled_agents(config, config_path)
    if agent_ids:
        unknown = sorted(set(agent_ids) - set(agents))
        if unknown:
            raise InvalidValue("--agent", unknown[0], f"enabled agents: {', '.join(agents)}")
        agents = {k: v for k, v in agents.items() if k in agent_ids}
    if not agents:
        raise InvalidValue("agents", config_path, "no enabled agent to backtest")
    paper = config.paper if seed is None else config.paper.model_copy(update={"seed": seed})
    from exchanges.feeds.replay import ReplayFeed
    from exchanges.feeds.subscriptions import bind_agents

    files = ReplayFeed(data_dir, symbols=symbols).files()
    agents, bindings, unserved = bind_agents(agents, files, paper.venues)
    events, first_ns, last_ns = scan_data(data_dir, paper.venues, symbols)
    if sample_s is not None and sample_s <= 0:
        raise InvalidValue("--sample-s", sample_s, "must be > 0")
    sample_ns = int(sample_s * 1e9) if sample_s else default_sample_ns(first_ns, last_ns)
    council = config.council.config if config.council.enabled else None
    progress, update = _progress_bar(events, show_progress)
    with progress:
        raw = asyncio.run(
            run_backtest(
                data_dir,
                agents,
                paper,
                limits_of(config),
                symbols=symbols,
                council=council,
                sample_ns=sample_ns,
                progress=update,
            )
        )
    for agent_id, reason in unserved.items():  # the data, not the strategy, held these back
        if not raw["agents"][agent_id]["orders"]:
            raw["agents"][agent_id]["idle_reason"] = reason
    figures = performance_report(series_from_backtest(raw), folds=walk_forward)
    report: dict[str, Any] = {
        "mode": "backtest",
        "data_dir": raw["data_dir"],
        "seed": paper.seed,
        "config": config_path,
        "events": raw["events"],
        "instants": raw["instants"],
        "elapsed_s": raw["elapsed_s"],
        "events_per_s": raw["events_per_s"],
        "breaker": raw["breaker"],
        "venue_conservation_errors": raw["venue_conservation_errors"],
        "sample_ns": sample_ns,
        "bound_to_data": bindings,
        "idle_reasons": {a: r["idle_reason"] for a, r in raw["agents"].items() if r["idle_reason"]},
        "marks": "equity = starting budget + P&L at the gateway's marks (the replay's mid prices)",
        **figures,
    }
    if "council" in raw:
        report["council_decisions"] = raw["council"]["decisions"]
    return report, raw


def default_html_path(config: SwarmConfig) -> Path:
    name = time.strftime("backtest-%Y%m%dT%H%M%SZ.html", time.gmtime())
    return ROOT / config.state.dir / name


def write_html(path: Path, report: dict[str, Any], raw: dict[str, Any]) -> Path:
    equity = series_from_backtest(raw).equity
    notes = [
        f"data: {report['data_dir']}; seed {report['seed']}; {report['events']} events; "
        f"config {report['config']}",
        report["marks"],
    ]
    page = render_html("Swarm backtest", report, equity, notes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


TABLE_FIGURES = {
    "total_return": "return",
    "pnl": "P&L",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown": "max DD",
    "profit_factor": "PF",
    "cvar_95": "CVaR95",
    "turnover": "turnover",
    "fees": "fees",
    "funding": "funding",
}


def figure_tables(report: dict[str, Any], width: int) -> list[Any]:
    """Return rich tables of the figures that each fit ``width`` columns without cutting a figure.

    One row per figure and one column per agent (and the total): a figure is
    never truncated, and agents beyond the width go to a further table.
    Sharpe and Sortino print ``n/a`` where the sample is too short for them.
    """
    from rich import box
    from rich.table import Table

    rows = {**report["agents"], "total": report["total"]}
    cells = {
        name: {key: _cell(values, key) for key in TABLE_FIGURES} for name, values in rows.items()
    }
    label_width = max(len(label) for label in TABLE_FIGURES.values())
    widths = {n: max(len(n), *(len(c) for c in cells[n].values())) for n in rows}
    groups: list[list[str]] = [[]]
    used = label_width + 4
    for name in rows:
        need = widths[name] + 3
        if groups[-1] and used + need > width:
            groups.append([])
            used = label_width + 4
        groups[-1].append(name)
        used += need
    title = f"{report['mode']}: {report.get('data_dir') or report.get('run_dir')}"
    tables = []
    for i, names in enumerate(groups):
        table = Table(title=title if i == 0 else None, box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("", no_wrap=True)
        for name in names:
            table.add_column(name, justify="right", no_wrap=True, min_width=widths[name])
        for key, label in TABLE_FIGURES.items():
            table.add_row(label, *(cells[name][key] for name in names))
        tables.append(table)
    return tables


def ratio_notes(report: dict[str, Any]) -> list[str]:
    """Return one line per distinct reason Sharpe and Sortino are n/a, naming the rows it covers."""
    rows = {**report["agents"], "total": report["total"]}
    by_note: dict[str, list[str]] = {}
    for name, values in rows.items():
        if values.get("ratio_note"):
            by_note.setdefault(values["ratio_note"], []).append(name)
    return [f"Sharpe, Sortino {note} ({', '.join(names)})" for note, names in by_note.items()]


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    for table in figure_tables(report, console.width):
        console.print(table)
    for line in ratio_notes(report):
        console.print(line)
    for agent_id, reason in (report.get("idle_reasons") or {}).items():
        console.print(f"{agent_id} placed no order: {reason}", markup=False)


def _cell(values: dict[str, Any], key: str) -> str:
    """Ratios with 4 significant digits, money with 2 decimals (the JSON keeps every digit)."""
    value = values.get(key)
    if value is None:
        return "n/a" if key in ("sharpe", "sortino") and values.get("ratio_note") else "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{Decimal(value):,.2f}"


def run_backtest_command(args: Any, config: SwarmConfig, config_path: str) -> int:
    """``main.py backtest``: run, write the HTML report, print the figures; return the exit code."""
    report, raw = backtest_report(
        config,
        config_path,
        data=args.data,
        agent_ids=args.agent,
        symbols=args.symbols.split(",") if args.symbols else None,
        seed=args.seed,
        walk_forward=args.walk_forward or 0,
        sample_s=args.sample_s,
        show_progress=not args.no_progress and not args.json,
    )
    html_path = Path(args.html) if args.html else default_html_path(config)
    report["html"] = str(write_html(html_path, report, raw))
    if args.json:
        print(json.dumps(report, default=str, sort_keys=True))
    else:
        print_table(report)
        print(f"HTML report: {report['html']}", file=sys.stderr)
    return 0 if report["venue_conservation_errors"] == 0 else 1
