"""The adverse selection the market maker measures after its own fills, pure and online.

A maker fill is adverse when the mid keeps going the way the fill pushed it: we bought
and the mid falls, we sold and it rises. For each own fill the agent records the side
and the mid it was quoting against just before the fill; ``horizon_s`` seconds of feed
time later the mid's move against the fill, in bps of that reference mid, is one sample::

    sample = side * (reference_mid - mid_later) / reference_mid * 1e4   (side: +1 buy, -1 sell)

(positive: the mid moved against us). The estimate is a weighted mean of the samples
that forgets old fills geometrically (``half_life_fills``) and starts from a prior
(``prior_bps`` weighing ``prior_weight`` fills), so a few lucky fills cannot talk the
floor down to the fee. Nothing here reads a clock: times are the feed's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PendingMarkout:
    """A fill waiting for its horizon: side (+1 buy, -1 sell), feed time, reference mid."""

    side: int
    ts_ns: int
    reference_mid: float


@dataclass(frozen=True, slots=True)
class AdverseState:
    """The weighted mean of the samples (bps), its weight, and the fills still pending."""

    mean_bps: float
    weight: float
    samples: int = 0
    last_sample_bps: float | None = None
    pending: tuple[PendingMarkout, ...] = ()


def new_adverse_state(prior_bps: float, prior_weight: float) -> AdverseState:
    """Return the estimator before any fill: the prior, worth ``prior_weight`` fills."""
    return AdverseState(mean_bps=prior_bps, weight=prior_weight)


def record_fill(state: AdverseState, side: int, ts_ns: int, reference_mid: float) -> AdverseState:
    """Remember an own fill (``side`` +1 bought, -1 sold) against ``reference_mid`` at ``ts_ns``."""
    if side not in (1, -1) or not reference_mid > 0:
        return state
    return replace(state, pending=(*state.pending, PendingMarkout(side, ts_ns, reference_mid)))


def resolve(
    state: AdverseState, ts_ns: int, mid: float, horizon_s: float, half_life_fills: float
) -> AdverseState:
    """Fold in every pending fill whose horizon has passed at ``ts_ns``, measured at ``mid``."""
    if not state.pending or not mid > 0:
        return state
    horizon_ns = round(horizon_s * NS_PER_S)
    due = [p for p in state.pending if ts_ns - p.ts_ns >= horizon_ns]
    if not due:
        return state
    keep = tuple(p for p in state.pending if ts_ns - p.ts_ns < horizon_ns)
    decay = 0.5 ** (1.0 / half_life_fills)
    mean, weight, sample = state.mean_bps, state.weight, 0.0
    for fill in due:
        sample = fill.side * (fill.reference_mid - mid) / fill.reference_mid * 1e4
        weight_before = weight * decay
        weight = weight_before + 1.0
        mean = (mean * weight_before + sample) / weight
    return AdverseState(
        mean_bps=mean,
        weight=weight,
        samples=state.samples + len(due),
        last_sample_bps=sample,
        pending=keep,
    )


def adverse_bps(state: AdverseState) -> float:
    """Return the adverse selection to charge per side (bps): the estimate, never below zero.

    A favourable history (the mid tends to come back after our fills) does not narrow the
    quotes below the fee: that would bet on the luck continuing.
    """
    return max(0.0, state.mean_bps)
