"""Swarm's entry point: parse the command line and dispatch to ``cli/``.

python main.py --paper [--no-tui] [--lockstep] [--speed max|N] [--duration S] [--json] [--data DIR]
python main.py backtest [--seed N] [--walk-forward N] [--html FILE] [--json]
python main.py report [--run DIR | --db FILE] [--json] [--html FILE]
python main.py doctor [--address ADDR] [--json]
python main.py live --config configs/live.toml [--confirm ACCOUNT]
python main.py kill|reset [--address ADDR] [--reason TEXT]
python main.py agent pause|resume|flatten AGENT [--address ADDR] [--reason TEXT]
python main.py record --venue binance --symbols BTC/USDT:USDT --duration 60 --out DIR
python main.py download --venue binance --symbols BTC/USDT:USDT --kinds ohlcv,funding --since 2024-08-01 --until 2024-08-02
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.config import SwarmConfig, load_config  # noqa: E402
from core.errors import SwarmError  # noqa: E402

DESCRIPTION = """\
Swarm: a small automated crypto fund as a Ray actor system.

Without a subcommand, runs paper trading (the default mode): it starts Ray, creates
the named actors (one paper venue per exchange, the replay feed) and replays the
embedded recorded market data through the paper venues.

The config file defaults to configs/paper.toml (configs/backtest.toml for `backtest`,
configs/live.toml for `live`); --config works before or after the subcommand.
"""

DEFAULT_CONFIGS = {"backtest": "backtest.toml", "live": "live.toml", "sweep": "sweep.toml"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=None,
        help="TOML config file (default: configs/paper.toml; backtest: configs/backtest.toml)",
    )
    parser.add_argument(
        "--paper", action="store_true", help="paper trading (the default; never sends a real order)"
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="replay this directory of recorded files instead of the config's data set",
    )
    parser.add_argument(
        "--speed",
        help="replay speed: a multiple of real time (1, 60, ...) or 'max' (default from the config: max)",
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after S seconds of wall time"
    )
    parser.add_argument(
        "--no-tui", action="store_true", help="no live console (for scripts and CI)"
    )
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="replay one market instant at a time, waiting for every actor, on market time: "
        "deterministic and equal to `python -m backtest.runner` over the same data (slower)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a final JSON summary as the last line"
    )
    parser.add_argument(
        "--address",
        help="join a running Ray cluster ('auto' or ray://host:port) instead of starting one",
    )
    parser.add_argument(
        "--dashboard", action="store_true", help="start the Ray dashboard on 127.0.0.1"
    )
    parser.add_argument(
        "--feed",
        choices=["replay", "live"],
        default="replay",
        help="paper market data: the recorded data (replay, default) or live public data (no keys)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN_DIR",
        help="resume a paper run that stopped cleanly (Ctrl+C, --duration or end of data): "
        "its WAL, its paper venues and the replay from where it stopped (default: the latest "
        "run under [state] dir)",
    )
    parser.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (stderr)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_commands(sub)

    record = sub.add_parser(
        "record",
        help="capture live public market data (no keys) into the replay format",
        description="Capture live public market data through ccxt (no keys needed) into "
        "*.swarm.parquet files that --data can replay.",
    )
    record.add_argument(
        "--venue", required=True, choices=["binance", "bybit", "okx", "hyperliquid"]
    )
    record.add_argument(
        "--symbols", required=True, help="comma-separated ccxt symbols, e.g. BTC/USDT:USDT,ETH/USDT"
    )
    record.add_argument(
        "--duration", type=float, default=60.0, metavar="S", help="seconds to record (default 60)"
    )
    record.add_argument("--max-events", type=int, help="stop after this many events")
    record.add_argument(
        "--out",
        default="data/recorded",
        metavar="DIR",
        help="output directory (default data/recorded)",
    )
    from cli.download import add_download_parser

    add_download_parser(sub)
    return parser


def _common(command: argparse.ArgumentParser) -> None:
    """Options every subcommand takes after its name too."""
    command.add_argument("--config", default=argparse.SUPPRESS, help="TOML config file")
    command.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON line on stdout"
    )
    command.add_argument(
        "--address",
        default=argparse.SUPPRESS,
        help="a running Ray cluster ('auto' or host:port)",
    )


def _add_commands(sub: Any) -> None:
    backtest = sub.add_parser(
        "backtest",
        help="the same cores in one process over a data set, at full speed, with a report",
        description="Run the paper system's cores (venues, gateway, agents, council) in one "
        "process on a simulated clock over a recorded data set; deterministic for a seed. "
        "Reports per agent and in total: return, Sharpe, Sortino, max drawdown, profit "
        "factor, CVaR 95%%, turnover, fees and funding, and writes an HTML report with the "
        "equity curves, drawdowns and weight history.",
    )
    _common(backtest)
    backtest.add_argument("--data", default=argparse.SUPPRESS, help="data directory")
    backtest.add_argument("--seed", type=int, help="seed of the simulation (default: the config's)")
    backtest.add_argument(
        "--walk-forward",
        type=int,
        metavar="N",
        help="split the span into N equal folds and report each (one continuous run: "
        "each fold is out of sample for what agents and council learned before it)",
    )
    backtest.add_argument("--html", metavar="FILE", help="HTML report (default: under state.dir)")
    backtest.add_argument("--agent", action="append", help="only this agent (repeatable)")
    backtest.add_argument("--symbols", help="comma-separated symbols or bases to replay")
    backtest.add_argument(
        "--sample-s", type=float, help="equity sampling step in market seconds (default: span/200)"
    )
    backtest.add_argument("--no-progress", action="store_true", help="no progress bar")

    sweep = sub.add_parser(
        "sweep",
        help="search an agent's parameters (grid or Optuna through Ray Tune), walk forward, stress",
        description="Search an agent's parameters with Ray Tune (a grid, or Optuna), each trial "
        "one backtest through the same cores, spread over every node of a cluster with "
        "--address; walk-forward folds score the chosen parameters out of sample; the best "
        "are replayed under stress (fees, latency, slippage, a price shock, funding's sign). "
        "The config is a [sweep] file (default configs/sweep.toml).",
    )
    _common(sweep)
    sweep.add_argument("--trials", type=int, help="Optuna: trials per search (default: the file's)")
    sweep.add_argument("--html", metavar="FILE", help="HTML report (default: under state.dir)")

    report = sub.add_parser(
        "report",
        help="the backtest's figures for a paper or live run, from its audit store",
        description="Read a run's audit store (read-only; the latest run by default) and print "
        "the backtest's figures per agent and in total, the weight history and the council's "
        "decisions.",
    )
    _common(report)
    report.add_argument("--run", metavar="DIR", help="a run directory (holding audit.duckdb)")
    report.add_argument("--db", metavar="FILE", help="an audit.duckdb file")
    report.add_argument("--walk-forward", type=int, metavar="N", help="also report N equal folds")
    report.add_argument("--html", metavar="FILE", help="write the HTML report too")

    doctor = sub.add_parser(
        "doctor",
        help="the pre-trading checklist; exit non-zero if any check fails",
        description="Check, each with pass/fail/skip and the reason: risk limits, replay data "
        "(or venues and keys in live), state and WAL directories writable, WAL readable, audit "
        "store, Ray versions on all nodes, dashboard on loopback, and with --address the "
        "running system's breaker, reconciliation and orphaned orders.",
    )
    _common(doctor)
    doctor.add_argument("--data", default=argparse.SUPPRESS, help="replay data directory")

    live = sub.add_parser(
        "live",
        help="live trading: refused unless the config, keys, SWARM_LIVE_ACK, doctor and you agree",
        description="Refused unless: the config says mode = live; the venues' keys are in the "
        "environment; SWARM_LIVE_ACK names the config's [live] account; doctor passes; and "
        "the operator confirms the account. Each refusal says which condition failed.",
    )
    _common(live)
    live.add_argument("--confirm", metavar="ACCOUNT", help="confirm without a prompt")

    for action, text in (
        ("kill", "trip the breaker of the running system (new orders refused, in-flight finish)"),
        ("reset", "reset an OPEN breaker of the running system (to HALF_OPEN probing)"),
    ):
        command = sub.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        _common(command)
        command.add_argument("--operator", help="who acts (default: the login name)")
        command.add_argument("--reason", help="free text written to the WAL with the transition")
        command.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")

    agent = sub.add_parser(
        "agent",
        help="pause, resume or flatten one agent of the running system (logged in the WAL)",
        description="pause: the agent opens nothing and keeps managing its exits; resume: "
        "lift the operator's pause; flatten: pause, cancel its orders and close its positions "
        "reduce-only through the gateway. Each control is logged in the WAL first.",
    )
    _common(agent)
    agent.add_argument("action", choices=["pause", "resume", "flatten"])
    agent.add_argument("agent", metavar="AGENT", help="the agent's id (e.g. mm)")
    agent.add_argument("--operator", help="who acts (default: the login name)")
    agent.add_argument("--reason", help="free text written to the WAL with the control")
    agent.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")


def _config_path(args: argparse.Namespace) -> str:
    if args.config:
        return str(args.config)
    return str(ROOT / "configs" / DEFAULT_CONFIGS.get(args.command or "", "paper.toml"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = _config_path(args)
    try:
        if args.command == "sweep":  # a [sweep] file names its base config itself
            from cli.sweep import run_sweep_command

            return run_sweep_command(args)
        config = load_config(args.config, SwarmConfig)
        from cli.logs import setup_logging

        setup_logging(args.log_level or config.logging.level, config.logging.format)
        if args.command == "record":
            from cli.record import run_record

            return run_record(args)
        if args.command == "download":
            from cli.download import run_download

            return run_download(args)
        if args.command == "backtest":
            from cli.backtest import run_backtest_command

            return run_backtest_command(args, config, args.config)
        if args.command == "report":
            from cli.report import run_report_command

            return run_report_command(args, config)
        if args.command == "doctor":
            from cli.doctor import run_doctor_command

            return run_doctor_command(args, config, args.config)
        if args.command == "live":
            from cli.live import run_live_command

            return run_live_command(args, config, args.config)
        if args.command in ("kill", "reset", "agent"):
            from cli.control import run_control_command

            return run_control_command(args, config)
        if config.mode != "paper":
            print(
                f"error: {args.config}: mode = {config.mode!r}: only paper runs from this command",
                file=sys.stderr,
            )
            return 2
        from cli.paper import run_paper

        return run_paper(args, config)
    except SwarmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
