"""The council's decisions, pure: sample equity, reweight with the Kelly allocator, vote agents off and on.

``CouncilCore`` is driven by market time (the replay's or the wall clock's, given
by the caller). At every ``period_ns`` boundary it samples each agent's P&L and
budget (the gateway's figures); at every ``reweight_every`` periods it turns them
into per-period returns (P&L made in the period over the budget held during it,
so a budget change is not a gain or a loss) and asks
``allocator.empirical.allocate`` for weights, then budgets = capital × weight.
Votes: an agent whose P&L fell from its peak by more than ``max_drawdown`` of its
budget, or whose P&L over the last ``edge_window`` periods is negative, is
paused; a paused agent is resumed after ``cooling_ns``. Every decision carries its inputs so the caller can log
why (the WAL record is the actor's job). No Ray, no clock, no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from allocator.empirical import Allocation, AllocationReason, AllocatorConfig, allocate
from core.errors import InvalidValue
from core.money import Dec


class CouncilConfig(BaseModel):
    """How often the council samples and reweighs, and when it votes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    capital: Dec
    """Total capital the budgets split (the rest of the weights' complement stays as cash)."""
    period_ns: int = Field(default=3_600 * 1_000_000_000, gt=0)
    reweight_every: int = Field(default=1, ge=1)
    max_drawdown: Dec = Decimal("0.2")
    """Pause an agent whose equity fell this fraction of its budget from its peak."""
    edge_window: int = Field(default=24, ge=2)
    """Pause an agent whose return over this many periods is negative (needs that much history)."""
    cooling_ns: int = Field(default=24 * 3_600 * 1_000_000_000, ge=0)
    allocator: AllocatorConfig = AllocatorConfig()


class VoteKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class Vote:
    agent_id: str
    kind: VoteKind
    reason: str
    inputs: dict[str, str]


@dataclass(frozen=True, slots=True)
class CouncilDecision:
    """What to do now: budgets to set (None: unchanged) and votes, with the allocator's result."""

    ts_ns: int
    budgets: dict[str, Decimal] | None
    votes: tuple[Vote, ...]
    allocation: Allocation | None

    def log_payload(self) -> dict[str, Any]:
        """Return the decision with its inputs as a JSON-safe dict (for the WAL and the audit store)."""
        return {
            "ts_ns": self.ts_ns,
            "budgets": {k: str(v) for k, v in (self.budgets or {}).items()},
            "votes": [
                {"agent": v.agent_id, "kind": str(v.kind), "reason": v.reason, "inputs": v.inputs}
                for v in self.votes
            ],
            "allocation": _no_floats(self.allocation.model_dump(mode="json"))
            if self.allocation
            else None,
        }


def _no_floats(value: Any) -> Any:
    """Return ``value`` with every float as its shortest decimal text (the WAL refuses floats)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _no_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_floats(v) for v in value]
    return value


@dataclass
class CouncilCore:
    """The council's state and its decision rule (see the module doc)."""

    config: CouncilConfig
    agents: tuple[str, ...]
    pnl: dict[str, list[Decimal]] = field(default_factory=dict)
    held: dict[str, list[Decimal]] = field(default_factory=dict)  # budget at each sample
    peaks: dict[str, Decimal] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    paused: dict[str, int] = field(default_factory=dict)  # agent -> paused at (ns)
    next_sample_ns: int | None = None
    periods: int = 0
    history: list[CouncilDecision] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.agents:
            raise InvalidValue("agents", self.agents, "the council needs at least one agent")
        for agent in self.agents:
            self.pnl.setdefault(agent, [])
            self.held.setdefault(agent, [])

    def on_time(
        self, ts_ns: int, pnls: Mapping[str, Decimal], budgets: Mapping[str, Decimal]
    ) -> CouncilDecision | None:
        """Sample at a period boundary and decide; return None between boundaries."""
        if self.next_sample_ns is None:
            self.next_sample_ns = ts_ns - ts_ns % self.config.period_ns + self.config.period_ns
            self._sample(pnls, budgets)
            return None
        if ts_ns < self.next_sample_ns:
            return None
        self.next_sample_ns += self.config.period_ns * max(
            1, (ts_ns - self.next_sample_ns) // self.config.period_ns + 1
        )
        self._sample(pnls, budgets)
        self.periods += 1
        votes = self._votes(ts_ns, budgets)
        allocation = None
        new_budgets = None
        if self.periods % self.config.reweight_every == 0:
            allocation, new_budgets = self._reweight()
        decision = CouncilDecision(ts_ns, new_budgets, tuple(votes), allocation)
        self.history.append(decision)
        return decision

    # -- sampling and votes ---------------------------------------------------

    def _sample(self, pnls: Mapping[str, Decimal], budgets: Mapping[str, Decimal]) -> None:
        for agent in self.agents:
            value = pnls.get(agent)
            series = self.pnl[agent]
            series.append(value if value is not None else (series[-1] if series else Decimal(0)))
            self.held[agent].append(budgets.get(agent, Decimal(0)))
            if series[-1] > self.peaks.get(agent, series[-1] - 1):
                self.peaks[agent] = series[-1]

    def _votes(self, ts_ns: int, budgets: Mapping[str, Decimal]) -> list[Vote]:
        votes: list[Vote] = []
        cfg = self.config
        for agent in self.agents:
            series = self.pnl[agent]
            if agent in self.paused:
                if ts_ns - self.paused[agent] >= cfg.cooling_ns:
                    del self.paused[agent]
                    votes.append(
                        Vote(
                            agent, VoteKind.RESUME, "cooling period over", {"paused_ns": str(ts_ns)}
                        )
                    )
                continue
            budget = budgets.get(agent, Decimal(0))
            drawdown = self.peaks.get(agent, series[-1]) - series[-1]
            if budget > 0 and drawdown > cfg.max_drawdown * budget:
                self.paused[agent] = ts_ns
                inputs = {
                    "drawdown": str(drawdown),
                    "budget": str(budget),
                    "limit": str(cfg.max_drawdown),
                }
                votes.append(Vote(agent, VoteKind.PAUSE, "drawdown past its limit", inputs))
                continue
            if len(series) > cfg.edge_window and series[-1] < series[-1 - cfg.edge_window]:
                self.paused[agent] = ts_ns
                inputs = {
                    "from": str(series[-1 - cfg.edge_window]),
                    "to": str(series[-1]),
                    "periods": str(cfg.edge_window),
                }
                votes.append(Vote(agent, VoteKind.PAUSE, "negative edge over the window", inputs))
        return votes

    # -- reweighting ------------------------------------------------------------

    def _returns(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Per period and agent: P&L made in the period over the budget held at its start (NaN without one)."""
        columns = []
        for agent in self.agents:
            pnl = [float(v) for v in self.pnl[agent]]
            held = [float(v) for v in self.held[agent]]
            returns = [
                (b - a) / h if h > 0 and math.isfinite(a) and math.isfinite(b) else math.nan
                for (a, b), h in zip(itertools.pairwise(pnl), held, strict=False)
            ]
            columns.append(returns)
        return np.array(columns, dtype=np.float64).T.reshape(len(columns[0]), len(self.agents))

    def _reweight(self) -> tuple[Allocation, dict[str, Decimal]]:
        active = [a for a in self.agents if a not in self.paused]
        matrix = self._returns()
        if active:
            index = [self.agents.index(a) for a in active]
            allocation = allocate(
                matrix[:, index], active, self.config.allocator, self.weights or None
            )
        else:
            allocation = allocate(np.zeros((0, 0)), [], self.config.allocator, None)
        nothing_ranked = allocation.reason is AllocationReason.DEGENERATE and not any(
            allocation.weights.values()
        )
        if nothing_ranked and any(self.weights.values()):
            # No agent's history can be ranked (flat or too short): moving every budget
            # to cash would stop the fund on a lack of data, not on evidence. Keep the
            # weights in force for the active agents; votes still pause bad ones.
            self.weights = {a: w for a, w in self.weights.items() if a in active}
        else:
            self.weights = dict(allocation.weights)
        capital = self.config.capital
        budgets = {
            agent: (capital * Decimal(repr(self.weights.get(agent, 0.0)))).quantize(Decimal("0.01"))
            for agent in self.agents
        }
        return allocation, budgets
