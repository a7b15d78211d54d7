"""What a sweep searches, how it folds time, what it stresses: ``configs/sweep.toml``'s ``[sweep]``.

A parameter is a key of the agent's own config section (``[agents.<agent>.config]``):
a list of values (a grid axis; the grid is their product) or a range
``{ low, high, log, step, integer }`` (Optuna samples it; a grid needs values). Every
unknown key, empty list and inverted range is a ``ConfigError`` naming it, and so is
a value the agent's config refuses: all of it before any trial starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, model_validator

from core.config import ConfigModel

Metric = Literal["pnl", "realized_minus_fees", "return_over_drawdown"]


class Range(ConfigModel):
    """A continuous (or integer) range for a sampled search."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    integer: bool = False

    @model_validator(mode="after")
    def _check(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be < high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.step is not None and self.step <= 0:
            raise ValueError("step must be > 0")
        return self


ParamSpace = list[float | int | str | bool] | Range


class WalkForward(ConfigModel):
    """Folds in time: parameters chosen in-sample, scored on the window after, with a gap.

    The data's span is cut into ``folds + 1`` equal blocks; fold ``i`` (1..folds) is
    scored on block ``i`` (its first ``purge_s`` dropped, so no position or estimator
    state of the in-sample run leaks across) and chosen on blocks ``0..i-1``
    (``anchored``) or on block ``i-1`` alone (``rolling``).
    """

    folds: int = Field(default=2, ge=0, le=50)
    mode: Literal["anchored", "rolling"] = "anchored"
    purge_s: float = Field(default=0.0, ge=0)


class Stress(ConfigModel):
    """The chosen parameters replayed under each perturbation (``backtest.stress``); 0/off: skipped."""

    fee_multiplier: Decimal = Field(default=Decimal(2), ge=0)
    latency_ms: float = Field(default=0.0, ge=0)
    taker_slippage_bps: Decimal = Field(default=Decimal(0), ge=0)
    price_shock_bps: Decimal = Field(default=Decimal(0), gt=-5000, lt=5000)
    funding_flip: bool = False


class SweepSpec(ConfigModel):
    """The ``[sweep]`` section."""

    config: str = "configs/paper.toml"
    """The base run: its ``[paper]``, ``[gateway]`` and the agent's section."""
    agent: str
    data: str | None = None
    """The data directory (default: the base config's ``paper.data_dir``)."""
    symbols: tuple[str, ...] = ()
    metric: Metric = "pnl"
    search: Literal["grid", "optuna"] = "grid"
    trials: int = Field(default=8, ge=1, le=10_000)
    """Optuna: trials per search. A grid runs every combination of its values."""
    seed: int = Field(default=7, ge=0)
    max_concurrent: int = Field(default=0, ge=0)
    """Trials at once (0: as many as the cluster has CPUs)."""
    params: dict[str, ParamSpace]
    walk_forward: WalkForward = WalkForward()
    stress: Stress = Stress()

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        if not self.params:
            raise ValueError("params: name at least one of the agent's config keys")
        for name, space in self.params.items():
            if isinstance(space, list) and not space:
                raise ValueError(f"params.{name}: an empty list of values")
            if self.search == "grid" and isinstance(space, Range):
                raise ValueError(f"params.{name}: a grid needs a list of values, not a range")
        return self

    def grid(self) -> Iterator[dict[str, Any]]:
        """Yield every combination of the listed values (a grid search's trials), in order."""
        names = list(self.params)
        axes = [self.params[n] for n in names]
        lists = [a if isinstance(a, list) else [a.low, a.high] for a in axes]
        for values in itertools.product(*lists):
            yield dict(zip(names, values, strict=True))

    def extremes(self) -> Iterator[dict[str, Any]]:
        """Yield the combinations a config check must accept: every grid point, or each range's ends."""
        yield from self.grid()


def with_params(agent_config: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """Return the agent's config section with ``params`` laid over it."""
    return {**agent_config, **params}
