"""What the hunter says about itself: its idle reason, and each cascade in words.

Both read only the state ``decide`` kept (figures recorded when they were measured).
"""

from __future__ import annotations

from collections import Counter

from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.state import Cascade, HunterState

_NS_PER_MIN = 60_000_000_000


def idle_reason(state: HunterState, config: LiquidationHunterConfig) -> str | None:
    """Return, in one line with numbers, why the hunter placed no entry (None once it has)."""
    tally = state.tally
    if tally.entries_placed:
        return None
    market = f"{config.symbol} on {config.venue}"
    minutes = config.cascade_window_ns / _NS_PER_MIN
    if not state.cascades:
        if state.closest is not None:
            return f"no cascade on {market}; closest: {state.closest.line}"
        if not tally.liquidations_counted:
            held = f" (last hold: {state.hold})" if state.hold is not None else ""
            return f"no liquidation of {market} seen in any {minutes:g}-min window{held}"
        return f"{tally.liquidations_counted} liquidations of {market} seen, none read as a cascade"
    outcomes = Counter(_short(c) for c in state.cascades)
    listed = "; ".join(f"{n} {what}" for what, n in outcomes.most_common())
    return f"{len(state.cascades)} cascade(s) on {market}, no entry: {listed}"


def _short(cascade: Cascade) -> str:
    outcome = cascade.outcome or "still waiting for exhaustion"
    return outcome.split(" (")[0]


def describe_cascade(cascade: Cascade) -> str:
    """Return one cascade's figures and what the hunter did after it, in one line."""
    label = "long liquidations (price pushed down)"
    if cascade.side == "buy":
        label = "short liquidations (price pushed up)"
    flow = f"{'>= ' if cascade.lower_bound else ''}{float(cascade.notional):,.0f}"
    move = "n/a" if cascade.move_bps is None else f"{cascade.move_bps:.0f} bp"
    sigma = "n/a" if cascade.move_sigma is None else f"{cascade.move_sigma:.1f} sigma"
    oi = "n/a" if cascade.oi_drop_bps is None else f"{cascade.oi_drop_bps:.1f} bp"
    did = cascade.outcome or "still waiting for exhaustion when the data ended"
    return (
        f"{label}: flow {flow}, move {move} ({sigma}), OI drop {oi}, mid {cascade.mid}; "
        f"the hunter: {did}"
    )
