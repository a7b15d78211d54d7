"""Drawdown tracking per agent and for the fund: peak P&L, current drawdown, limit breaches.

Drawdown is measured on mark-to-market P&L, not on equity: a budget change by
the council is not a gain or a loss. An agent breaches when its P&L has fallen
from its peak by more than ``max_drawdown_fraction_agent`` of its budget; the
fund breaches when the agents' summed P&L has fallen from its peak by more
than ``max_drawdown_fraction_total`` of all budgets. A breach is a breaker trip
(``TripReason.DRAWDOWN_LIMIT``), which the engine logs before it takes effect.

Peaks live in memory and in the gateway's checkpoints (``peaks``/``restore``): a
restart from a checkpoint keeps them; without one they start again from the
current P&L. The trip itself is durable (it is a logged breaker transition), so
a restart never un-trips a breach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.models import Frozen
from core.money import ZERO, Dec
from risk.limits import RiskLimits

FUND = "*"
"""The key of the whole fund in ``DrawdownTracker.view``."""


@dataclass(frozen=True, slots=True)
class DrawdownBreach:
    """A drawdown beyond its limit; ``agent_id`` is None for the whole fund."""

    agent_id: str | None
    peak: Dec
    pnl: Dec
    drawdown: Dec
    limit: Dec

    def describe(self) -> str:
        who = self.agent_id if self.agent_id is not None else "the fund"
        return (
            f"{who}: drawdown {self.drawdown} from a P&L peak of {self.peak} "
            f"is beyond the limit {self.limit}"
        )


class DrawdownView(Frozen):
    peak: Dec
    pnl: Dec
    drawdown: Dec


class DrawdownTracker:
    """Peaks of P&L per agent and for the fund; ``update`` returns the breaches."""

    def __init__(self, limits: RiskLimits) -> None:
        self._limits = limits
        self._peaks: dict[str, Dec] = {}
        self._last: dict[str, Dec] = {}

    def update(self, pnls: Mapping[str, Dec], budgets: Mapping[str, Dec]) -> list[DrawdownBreach]:
        """Take each agent's current P&L; return every drawdown now beyond its limit."""
        breaches: list[DrawdownBreach] = []
        total_budget = sum((budgets.get(agent, ZERO) for agent in pnls), ZERO)
        fraction = self._limits.max_drawdown_fraction_agent
        for agent in sorted(pnls):
            breach = self._observe(agent, pnls[agent], budgets.get(agent, ZERO) * fraction)
            if breach is not None:
                breaches.append(breach)
        total = sum(pnls.values(), ZERO)
        limit = total_budget * self._limits.max_drawdown_fraction_total
        breach = self._observe(FUND, total, limit)
        if breach is not None:
            breaches.append(DrawdownBreach(None, breach.peak, total, breach.drawdown, limit))
        return breaches

    def _observe(self, key: str, pnl: Dec, limit: Dec) -> DrawdownBreach | None:
        peak = self._peaks.get(key)
        if peak is None or pnl > peak:
            peak = self._peaks[key] = pnl
        self._last[key] = pnl
        drawdown = peak - pnl
        # No budget, no capital at risk: nothing to measure a fraction of.
        if limit > 0 and drawdown > limit:
            return DrawdownBreach(key, peak, pnl, drawdown, limit)
        return None

    def peaks(self) -> tuple[dict[str, Dec], dict[str, Dec]]:
        """Return copies of the peaks and the last P&L per key (what a checkpoint keeps)."""
        return dict(self._peaks), dict(self._last)

    def restore(self, peaks: Mapping[str, Dec], last: Mapping[str, Dec]) -> None:
        """Take back what ``peaks()`` returned: a restart then keeps the peaks it had."""
        self._peaks = dict(peaks)
        self._last = dict(last)

    def rebase(self) -> None:
        """Start every peak again from the last P&L seen (after an operator's reset)."""
        self._peaks = dict(self._last)

    def view(self) -> dict[str, DrawdownView]:
        """Return peak, last P&L and drawdown per agent and for the fund (``FUND``)."""
        return {
            key: DrawdownView(peak=peak, pnl=self._last[key], drawdown=peak - self._last[key])
            for key, peak in sorted(self._peaks.items())
        }
