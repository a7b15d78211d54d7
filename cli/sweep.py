"""``main.py sweep``: search an agent's parameters with Ray Tune, walk forward, stress the choice.

Every trial is one backtest through the same cores (``sweep.trial.run_trial``), run as
a Ray Tune trial: on one box they share its CPUs, on a cluster (``--address``) they
spread over every node that has the project (Ray's ``working_dir``) and the data. The
searches are a grid (every combination) or Optuna's TPE sampler through
``ray.tune.search.optuna.OptunaSearch``. Three stages, each reported:

1. ``trials``: the search over the whole span (in-sample), ``best`` its top score;
2. ``folds``: walk-forward, each fold searching on its training window and scoring
   the chosen parameters on the window after it (a purge gap between), so the table
   shows how much of the in-sample score survives out of sample;
3. ``stress``: ``best`` replayed beside the base run with fees multiplied, agents'
   latency, taker slippage, a price shock at mid-span and funding's sign flipped.

Output: one JSON line (``--json``) or tables, and an HTML report.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtest.stress import Perturbation
from core.config import SwarmConfig, load_config, validate_config
from core.errors import ConfigError
from sweep.folds import Fold, folds_of
from sweep.spec import Range, SweepSpec
from sweep.trial import TrialPlan, agent_spec

ROOT = Path(__file__).resolve().parent.parent
NS_PER_MS = 1_000_000

log = logging.getLogger("swarm.sweep")


# -- LOADING AND CHECKS (before any trial) -------------------------------------


def load_sweep(path: str | Path) -> tuple[SweepSpec, SwarmConfig, str]:
    """Read ``[sweep]`` from ``path`` and its base config; check every parameter first.

    ``ConfigError`` names the key: an unknown agent, a key its config does not have, a
    value it refuses (every grid point, each range's ends), an empty list.
    """
    import tomllib

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, "", None, f"cannot read: {exc}") from exc
    if set(raw) != {"sweep"}:
        extra = sorted(set(raw) - {"sweep"}) or ["sweep"]
        raise ConfigError(path, extra[0], None, "a sweep file holds one [sweep] table")
    spec = validate_config(raw["sweep"], SweepSpec, f"{path} [sweep]")
    base = Path(spec.config)
    if not base.is_absolute():
        base = (path.parent / base) if (path.parent / base).exists() else ROOT / base
    config = load_config(base, SwarmConfig)
    if spec.agent not in config.agents:
        raise ConfigError(
            path, "sweep.agent", spec.agent, f"not an agent of {base} ({', '.join(config.agents)})"
        )
    check_params(spec, config, path)
    return spec, config, str(base)


def check_params(spec: SweepSpec, config: SwarmConfig, path: Path | str) -> None:
    """Build the agent's strategy with every value a trial could get: refuse before any trial."""
    from agents.registry import build_strategy

    kind = config.agents[spec.agent].kind
    known = _config_keys(kind)
    for name in spec.params:
        if name not in known:
            raise ConfigError(
                path, f"sweep.params.{name}", None, f"not a key of the {kind} agent's config"
            )
    for point in _check_points(spec):
        settings = {"agent_id": spec.agent, **agent_spec(config, spec.agent, point).config}
        try:
            build_strategy(kind, settings, f"{path} sweep.params")
        except ConfigError as exc:
            raise ConfigError(path, f"sweep.params ({exc.key})", point, str(exc)) from None


def _config_keys(kind: str) -> set[str]:
    if kind == "market_maker":
        from agents.market_maker.config import MarketMakerConfig

        return set(MarketMakerConfig.model_fields)
    if kind == "funding_arb":
        from agents.funding_arb.config import FundingArbConfig

        return set(FundingArbConfig.model_fields)
    from agents.liquidation_hunter.config import LiquidationHunterConfig

    return set(LiquidationHunterConfig.model_fields)


def _check_points(spec: SweepSpec) -> list[dict[str, Any]]:
    names = list(spec.params)
    base = {n: _first(spec.params[n]) for n in names}
    points = []
    for name in names:  # each axis's every value (or a range's ends), the others at their first
        space = spec.params[name]
        values = [space.low, space.high] if isinstance(space, Range) else list(space)
        for value in values:
            points.append({**base, name: _typed(space, value)})
    return points


def _first(space: Any) -> Any:
    return _typed(space, space.low) if isinstance(space, Range) else space[0]


def _typed(space: Any, value: Any) -> Any:
    if isinstance(space, Range) and space.integer:
        return int(value)
    return value


# -- THE SEARCH SPACE -------------------------------------------------------------


def tune_space(spec: SweepSpec) -> dict[str, Any]:
    """Return Ray Tune's search space for the spec's parameters."""
    from ray import tune

    space: dict[str, Any] = {}
    for name, axis in spec.params.items():
        if spec.search == "grid":
            assert isinstance(axis, list)  # SweepSpec refuses ranges in a grid
            space[name] = tune.grid_search(axis)
        elif isinstance(axis, list):
            space[name] = tune.choice(axis)
        elif axis.integer:
            space[name] = (
                tune.lograndint(int(axis.low), int(axis.high) + 1)
                if axis.log
                else tune.qrandint(int(axis.low), int(axis.high), int(axis.step or 1))
            )
        elif axis.step is not None:
            space[name] = (
                tune.qloguniform(axis.low, axis.high, axis.step)
                if axis.log
                else tune.quniform(axis.low, axis.high, axis.step)
            )
        else:
            space[name] = (
                tune.loguniform(axis.low, axis.high)
                if axis.log
                else tune.uniform(axis.low, axis.high)
            )
    return space


def _trainable(
    params: dict[str, Any],
    plan: TrialPlan,
    keep_equity: bool,
    jobs: Sequence[tuple[TrialPlan, Mapping[str, Any]]] = (),
) -> None:
    """One Tune trial: the backtest, its score, and the node it ran on.

    With ``jobs`` the trial is the fixed run ``jobs[params["_job"]]`` (a stress scenario,
    a fold's out-of-sample window): many such runs share one Tune experiment.
    """
    import ray
    from ray import tune

    from sweep.trial import run_trial

    if "_job" in params:
        plan, fixed = jobs[int(params["_job"])]
        params = dict(fixed)
    result = run_trial(plan, params)
    equity = result.pop("equity")
    if keep_equity:  # a string: Tune's loggers take numbers and strings, not lists
        result["equity"] = json.dumps(equity)
    result["node"] = ray.get_runtime_context().get_node_id()
    tune.report(result)


class _Progress:
    """A rich progress bar over every trial of the sweep (a Tune callback feeds it)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("sweep {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                transient=True,
                console=_stderr_console(),
            )
            self._task = self._bar.add_task("", total=total)
            self._bar.start()

    def stage(self, name: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=name)

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


def run_tune(
    spec: SweepSpec,
    plan: TrialPlan,
    space: Mapping[str, Any],
    *,
    name: str,
    storage: str,
    progress: _Progress,
    samples: int | None = None,
    keep_equity: bool = False,
    jobs: Sequence[tuple[TrialPlan, Mapping[str, Any]]] = (),
) -> list[dict[str, Any]]:
    """Run one Tune experiment of ``plan`` over ``space``; return each trial's params and figures.

    A trial that raised is an error here (``RuntimeError`` naming it): a sweep never
    ranks a crashed backtest as a bad score.
    """
    from ray import tune
    from ray.tune import Callback

    class Advance(Callback):
        def on_trial_complete(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            progress.advance()

        def on_trial_error(self, iteration: int, trials: Any, trial: Any, **info: Any) -> None:
            progress.advance()

    search_alg = None
    num_samples = 1
    if spec.search == "optuna" and samples is None:
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(seed=spec.seed)
        num_samples = spec.trials
    elif samples is not None:
        num_samples = samples
    tuner = tune.Tuner(
        tune.with_parameters(_trainable, plan=plan, keep_equity=keep_equity, jobs=list(jobs)),
        param_space=dict(space),
        tune_config=tune.TuneConfig(
            metric="score",
            mode="max",
            search_alg=search_alg,
            num_samples=num_samples,
            max_concurrent_trials=spec.max_concurrent or None,
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=0, callbacks=[Advance()], log_to_file=False
        ),
    )
    grid = tuner.fit()
    rows = []
    for index in range(len(grid)):
        result = grid[index]
        if result.error is not None:
            raise RuntimeError(f"sweep {name}: a trial failed: {result.error}")
        metrics = dict(result.metrics or {})
        config = dict(result.config or {})
        if "_job" in config:
            params = dict(jobs[int(config["_job"])][1])
            metrics["_job"] = int(config["_job"])
        else:
            params = {k: v for k, v in config.items() if not k.startswith("_")}
        rows.append({"params": params, **_figures(metrics), "_job": metrics.get("_job")})
    if jobs:
        rows.sort(key=lambda r: int(r["_job"]))
    for row in rows:
        row.pop("_job")
    return rows


_FIGURES = (
    "score", "pnl", "realized", "fees", "orders", "fills", "max_drawdown", "idle_reason",
    "scenario", "node", "elapsed_s", "equity",
)  # fmt: skip


def _figures(metrics: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: metrics[k] for k in _FIGURES if k in metrics}
    if isinstance(out.get("equity"), str):
        out["equity"] = json.loads(out["equity"])
    return out


def best_of(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Return the row with the highest score (the first of equals, in the trials' order)."""
    if not rows:
        raise ValueError("no trial to choose from")
    return max(rows, key=lambda r: (_score(r), -rows.index(r)))


def _score(row: Mapping[str, Any]) -> float:
    score = row.get("score")
    return float(score) if isinstance(score, int | float) and math.isfinite(score) else -math.inf


# -- STAGES -------------------------------------------------------------------------


def scenarios(spec: SweepSpec, start_ns: int, end_ns: int) -> list[Perturbation]:
    """Return the base run and each stress the spec turns on (a shock at mid-span)."""
    stress = spec.stress
    out = [Perturbation("base")]
    if stress.fee_multiplier != 1:
        out.append(
            Perturbation(f"fees x{stress.fee_multiplier}", fee_multiplier=stress.fee_multiplier)
        )
    if stress.latency_ms:
        out.append(
            Perturbation(
                f"latency {stress.latency_ms:g} ms", latency_ns=round(stress.latency_ms * NS_PER_MS)
            )
        )
    if stress.taker_slippage_bps:
        out.append(
            Perturbation(
                f"slippage {stress.taker_slippage_bps} bp",
                taker_slippage_bps=stress.taker_slippage_bps,
            )
        )
    if stress.price_shock_bps:
        out.append(
            Perturbation(
                f"price shock {stress.price_shock_bps:+} bp",
                price_shock_bps=stress.price_shock_bps,
                shock_ns=start_ns + (end_ns - start_ns) // 2,
            )
        )
    if stress.funding_flip:
        out.append(Perturbation("funding sign flipped", funding_flip=True))
    return out


def total_trials(spec: SweepSpec, folds: int, stresses: int) -> int:
    """Return how many backtests the sweep runs (for the progress bar)."""
    per_search = math.prod(len(v) for v in spec.params.values() if isinstance(v, list))
    if spec.search == "optuna":
        per_search = spec.trials
    return per_search * (1 + folds) + folds + stresses


def run_sweep(
    spec: SweepSpec,
    config: SwarmConfig,
    base_path: str,
    *,
    address: str | None = None,
    show_progress: bool = False,
    storage: str | None = None,
) -> dict[str, Any]:
    """Run the three stages; return the report (see the module doc)."""
    from cli.backtest import scan_data
    from cli.paper import resolve_data_dir
    from cli.runtime import start_ray

    data_dir = resolve_data_dir(spec.data or config.paper.data_dir)
    symbols = list(spec.symbols) or None
    _events, first_ns, last_ns = scan_data(data_dir, config.paper.venues, symbols)
    folds = folds_of(first_ns, last_ns, spec.walk_forward)
    stresses = scenarios(spec, first_ns, last_ns)
    plan = TrialPlan(
        config_path=str(Path(base_path).resolve()),
        agent=spec.agent,
        data_dir=str(data_dir.resolve()),
        metric=spec.metric,
        symbols=tuple(spec.symbols),
    )
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    facts = start_ray(config.ray, address=address, dashboard=False)
    progress = _Progress(total_trials(spec, len(folds), len(stresses)), show_progress)
    storage = storage or tempfile.mkdtemp(prefix="swarm-sweep-")
    space = tune_space(spec)

    def search(name: str, window: TrialPlan) -> list[dict[str, Any]]:
        progress.stage(name)
        return run_tune(
            spec, window, space, name=name, storage=storage, progress=progress, keep_equity=False
        )

    def fixed(name: str, jobs: list[tuple[TrialPlan, Mapping[str, Any]]]) -> list[dict[str, Any]]:
        progress.stage(name)
        space = {"_job": _grid(list(range(len(jobs))))}
        return run_tune(
            spec, plan, space, name=name, storage=storage, progress=progress, samples=1,
            keep_equity=True, jobs=jobs,
        )  # fmt: skip

    try:
        trials = search("in-sample", plan)
        best = best_of(trials)
        chosen = []
        for fold in folds:
            train = replace(plan, start_ns=fold.train_start_ns, end_ns=fold.train_end_ns)
            chosen.append(best_of(search(f"fold-{fold.index}-in-sample", train)))
        jobs: list[tuple[TrialPlan, Mapping[str, Any]]] = [
            (replace(plan, start_ns=f.test_start_ns, end_ns=f.test_end_ns), c["params"])
            for f, c in zip(folds, chosen, strict=True)
        ]
        jobs += [(replace(plan, perturbation=s), best["params"]) for s in stresses]
        evaluated = fixed("out-of-sample-and-stress", jobs)
    finally:
        progress.close()
    fold_rows = [
        _fold_row(f, c, out)
        for f, c, out in zip(folds, chosen, evaluated[: len(folds)], strict=True)
    ]
    stress_rows = [
        {**row, "scenario": s.name}
        for s, row in zip(stresses, evaluated[len(folds) :], strict=True)
    ]
    nodes = sorted({r["node"] for r in [*trials, *stress_rows] if "node" in r})
    return {
        "agent": spec.agent,
        "config": base_path,
        "data_dir": str(data_dir),
        "metric": spec.metric,
        "search": spec.search,
        "span_ns": [first_ns, last_ns],
        "ray": {k: v for k, v in facts.items() if k in ("address", "joined")},
        "nodes": nodes,
        "trials": [{k: v for k, v in r.items() if k != "equity"} for r in trials],
        "best": {k: v for k, v in best.items() if k != "equity"},
        "folds": fold_rows,
        "stress": [{k: v for k, v in r.items() if k != "equity"} for r in stress_rows],
        "best_equity": stress_rows[0].get("equity", []) if stress_rows else [],
        "note": "trials and best are in-sample (the whole span); folds score out of sample",
    }


def _grid(values: list[Any]) -> Any:
    from ray import tune

    return tune.grid_search(values)


def _fold_row(fold: Fold, chosen: Mapping[str, Any], out: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **fold.as_json(),
        "params": chosen["params"],
        "in_sample_score": chosen["score"],
        "out_of_sample_score": out["score"],
        "out_of_sample": {k: v for k, v in out.items() if k not in ("equity", "params")},
    }


# -- OUTPUT -------------------------------------------------------------------------


def print_tables(report: Mapping[str, Any]) -> None:
    """Print the trials, folds and stress tables (rich, on stdout)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    names = list(report["best"]["params"])
    trials = Table(title=f"trials ({report['search']}, in-sample, metric {report['metric']})")
    for column in [*names, "score", "fills", "fees", "node"]:
        trials.add_column(column, overflow="fold")
    for row in sorted(report["trials"], key=_score, reverse=True):
        trials.add_row(
            *(str(row["params"].get(n)) for n in names),
            f"{row['score']:.4f}",
            str(row.get("fills")),
            str(row.get("fees")),
            str(row.get("node", ""))[:8],
        )
    console.print(trials)
    if report["folds"]:
        folds = Table(title="walk-forward")
        for column in ["fold", "params", "in-sample", "out-of-sample"]:
            folds.add_column(column, overflow="fold")
        for fold in report["folds"]:
            folds.add_row(
                str(fold["fold"]),
                json.dumps(fold["params"]),
                f"{fold['in_sample_score']:.4f}",
                f"{fold['out_of_sample_score']:.4f}",
            )
        console.print(folds)
    stress = Table(title=f"stress of the best {json.dumps(report['best']['params'])}")
    for column in ["scenario", "score", "pnl", "fees", "fills"]:
        stress.add_column(column)
    for row in report["stress"]:
        stress.add_row(
            row["scenario"], f"{row['score']:.4f}", str(row["pnl"]), str(row["fees"]),
            str(row["fills"]),
        )  # fmt: skip
    console.print(stress)


def run_sweep_command(args: Any) -> int:
    """``main.py sweep``: load, check, run, report; return the exit code."""
    from sweep.html import write_html

    path = args.config or str(ROOT / "configs" / "sweep.toml")
    spec, config, base = load_sweep(path)
    if getattr(args, "trials", None):
        spec = spec.model_copy(update={"trials": args.trials})
    report = run_sweep(
        spec,
        config,
        base,
        address=getattr(args, "address", None),
        show_progress=not getattr(args, "json", False),
    )
    html = Path(args.html) if getattr(args, "html", None) else Path(config.state.dir) / "sweep.html"
    report["html"] = str(write_html(html, report))
    del report["best_equity"]  # on the HTML page; too long for the JSON line
    if getattr(args, "json", False):
        print(json.dumps(report, default=_json_default, sort_keys=True))
    else:
        print_tables(report)
        print(f"HTML report: {report['html']}", file=sys.stderr)
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)
