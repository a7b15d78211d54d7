"""Strategy variants: score a shadow variant against its incumbent and decide a promotion. Pure.

A variant is a parameter set of an agent (``VariantConfig``: ``of`` names the
incumbent agent, ``config`` overrides some of its strategy's settings). It runs
as an extra agent actor in shadow mode: zero capital from the fund, its orders
go to a private paper venue fed with the same market data (``agents.sandbox``),
so its P&L is what the incumbent's would have been with those parameters.

The council samples both per period. The promotion rule (``promotion_test``)
is a one-sided paired t-test on the per-period return differences
``d_t = r_variant,t - r_incumbent,t`` (returns: P&L made in the period over the
same scoring budget): promote when there are at least ``min_periods`` pairs,
the mean difference is positive and its p-value is below ``alpha``. Pairing
removes the market's common move, which is what both strategies see. A flat
difference (zero variance) is never a promotion: no evidence, no change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from core.errors import InvalidValue


class VariantConfig(BaseModel):
    """One shadow variant of an agent: its name, its incumbent, the settings it changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    of: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)

    @property
    def agent_id(self) -> str:
        """The shadow actor's agent id: ``<incumbent>--<name>``."""
        return f"{self.of}--{self.name}"


class PromotionConfig(BaseModel):
    """When a variant's edge over its incumbent counts as significant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_periods: int = Field(default=8, ge=3)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)


@dataclass(frozen=True, slots=True)
class PromotionVerdict:
    """The test's figures and its answer (all JSON-safe for the log)."""

    promote: bool
    periods: int
    mean_difference: float
    t_stat: float
    p_value: float
    reason: str

    def payload(self) -> dict[str, str]:
        return {
            "promote": str(self.promote).lower(),
            "periods": str(self.periods),
            "mean_difference": repr(self.mean_difference),
            "t_stat": repr(self.t_stat),
            "p_value": repr(self.p_value),
            "reason": self.reason,
        }


def promotion_test(
    incumbent: Sequence[float], variant: Sequence[float], config: PromotionConfig
) -> PromotionVerdict:
    """Decide whether ``variant``'s per-period returns beat ``incumbent``'s significantly.

    The two series are aligned on their last periods (the shorter length); a
    period where either is not finite is dropped. ``InvalidValue`` if empty inputs
    are not sequences of numbers.
    """
    n = min(len(incumbent), len(variant))
    pairs = [
        (float(a), float(b))
        for a, b in zip(incumbent[len(incumbent) - n :], variant[len(variant) - n :], strict=True)
    ]
    diffs = [b - a for a, b in pairs if math.isfinite(a) and math.isfinite(b)]
    count = len(diffs)
    if count < config.min_periods:
        return PromotionVerdict(
            False, count, math.nan, math.nan, 1.0, f"{count} periods < {config.min_periods}"
        )
    mean = sum(diffs) / count
    variance = sum((d - mean) ** 2 for d in diffs) / (count - 1)
    if variance <= 0.0 or not math.isfinite(variance):
        return PromotionVerdict(False, count, mean, math.nan, 1.0, "no variation: no evidence")
    t_stat = mean / math.sqrt(variance / count)
    p_value = float(stats.t.sf(t_stat, df=count - 1))
    if not math.isfinite(p_value):
        raise InvalidValue("returns", (incumbent, variant), "the test is not defined on them")
    promote = mean > 0 and p_value < config.alpha
    reason = (
        f"better with p={p_value:.4f} < {config.alpha}"
        if promote
        else f"not better with significance (p={p_value:.4f}, alpha {config.alpha})"
    )
    return PromotionVerdict(promote, count, mean, t_stat, p_value, reason)
