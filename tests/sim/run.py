"""The seed sweep: ``python -m tests.sim.run --seeds 1000 [--start 0] [--steps N] [--jobs 2]``.

Print ONE JSON line of counts (seeds, orders, crashes, duplicates, lost,
conservation errors, ...) and exit 1 when any invariant broke, naming the
failing seeds on stderr with the command that replays one of them. ``--log``
prints each seed's event log instead (the replay of a failing seed).
``--no FAULT`` switches one venue fault off (repeatable), ``--only FAULT``
keeps one.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

from tests.sim.faults import FAULT_KINDS, FaultRates
from tests.sim.harness import DEFAULT_STEPS, SimConfig, SimResult, run_seed, run_seeds


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.sim.run", description=__doc__)
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds (default 200)")
    parser.add_argument("--start", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="steps per seed")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no", action="append", default=[], choices=FAULT_KINDS, metavar="FAULT")
    parser.add_argument("--only", choices=FAULT_KINDS, metavar="FAULT")
    parser.add_argument("--no-crashes", action="store_true", help="never crash the gateway")
    parser.add_argument("--log", action="store_true", help="print every seed's event log")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.steps < 1 or args.jobs < 1:
        parser.error("--seeds, --steps and --jobs must be >= 1")
    return args


def _config(args: argparse.Namespace) -> SimConfig:
    faults = FaultRates.default()
    if args.only:
        faults = faults.only(args.only, getattr(faults, args.only))
    faults = faults.without(args.no)
    config = SimConfig(steps=args.steps, faults=faults)
    if args.no_crashes:
        config = replace(config, crash_rate=0.0, power_cut_rate=0.0, recovery_crash_rate=0.0)
    return config


def _chunk(seeds: range, config: SimConfig) -> SimResult:
    logging.disable(logging.CRITICAL)  # the gateway's warnings are expected under faults
    return run_seeds(seeds, config)


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; return the exit status (0: every invariant held for every seed)."""
    args = _parse(argv)
    config = _config(args)
    logging.disable(logging.CRITICAL)
    seeds = range(args.start, args.start + args.seeds)
    started = time.perf_counter()
    if args.log:
        total = SimResult()
        for seed in seeds:
            seed_run = run_seed(seed, config)
            print("\n".join(seed_run.log))
            total.merge(seed_run.result)
    elif args.jobs == 1:
        total = run_seeds(seeds, config)
    else:
        size = -(-len(seeds) // (args.jobs * 4))
        chunks = [seeds[i : i + size] for i in range(0, len(seeds), size)]
        total = SimResult()
        with ProcessPoolExecutor(args.jobs) as pool:
            for part in pool.map(_chunk, chunks, [config] * len(chunks)):
                total.merge(part)  # in seed order: the digest does not depend on --jobs
    summary = total.summary()
    summary["wall_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(summary))
    if total.violations:
        first = total.failing_seeds[0]
        print(
            f"invariants broken in {len(total.failing_seeds)} seed(s): {total.failing_seeds}\n"
            f"replay one: python -m tests.sim.run --seeds 1 --start {first} --steps {args.steps} --log",
            file=sys.stderr,
        )
        for seed, lines in list(total.first_failures.items())[:10]:
            print(f"  seed {seed}: {lines[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
