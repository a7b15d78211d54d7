"""Swarm's entry point: parse the command line and dispatch to ``cli/``.

python main.py --paper [--no-tui] [--lockstep] [--speed max|N] [--duration S] [--json] [--data DIR]
python main.py record --venue binance --symbols BTC/USDT:USDT --duration 60 --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="main.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=str(ROOT / "configs" / "paper.toml"),
        help="TOML config file (default: configs/paper.toml)",
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, SwarmConfig)
        if args.command == "record":
            from cli.record import run_record

            return run_record(args)
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
