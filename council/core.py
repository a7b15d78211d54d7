"""The council's decisions, pure: sample equity, reweight with the Kelly allocator, vote agents off and on.

``CouncilCore`` is driven by market time (the replay's or the wall clock's, given
by the caller). At every ``period_ns`` boundary it samples each agent's P&L and
budget (the gateway's figures); at every ``reweight_every`` periods it turns them
into per-period returns (P&L made in the period over the budget held during it,
so a budget change is not a gain or a loss) and asks
``allocator.empirical.allocate`` for weights, then budgets = capital × weight.
Votes judge an agent only on what it did since its start or its last resume: an
agent whose P&L fell from its peak since then by more than ``max_drawdown`` of its
budget is paused; so is one whose P&L over the last ``edge_window`` periods (all
since its resume: that many at least) fell by more than ``edge_noise`` of its
budget with significance (one-sided t-test on the per-period P&L changes,
``p < edge_alpha``). A paused agent is resumed after ``cooling_ns`` and gets back
the weight it held when paused (within the cash left); the allocator then sees
only its periods since the resume, so it explores again (``allocator.explore``)
until it has ``min_history`` of them. A running agent whose weight falls to zero
gets a ``defund`` vote naming why, so no agent sits at zero budget unexplained;
after ``cooling_ns`` it is resumed like a paused agent and explores again.
No decision is taken while the market has shown no order book for a period
(``quoted_ns``: the data has ended, or the feed stalls).
Every decision carries its inputs so the caller can log why (the WAL record is
the actor's job), and the samples taken since the previous decision, so the
logged decisions alone rebuild the council (``CouncilCore.from_log``: a restarted
council decides exactly as the one that died). No Ray, no clock, no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from agents.controls import is_control
from allocator.empirical import Allocation, AllocationReason, AllocatorConfig, allocate
from allocator.estimation import AgentGuard
from core.errors import InvalidValue
from core.money import Dec
from council.variants import PromotionConfig, VariantConfig, promotion_test


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
    """Judge an agent's edge over this many periods since its start or resume (no fewer)."""
    edge_noise: Dec = Field(default=Decimal("0.001"), ge=0)
    """A loss over the window below this fraction of the agent's budget is noise: no pause."""
    edge_alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    """Pause on a negative edge only when its one-sided t-test has ``p`` below this."""
    cooling_ns: int = Field(default=24 * 3_600 * 1_000_000_000, ge=0)
    allocator: AllocatorConfig = AllocatorConfig()
    variants: tuple[VariantConfig, ...] = ()
    """Shadow variants scored against their incumbents (none by default)."""
    promotion: PromotionConfig = PromotionConfig()


class VoteKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    DEFUND = "defund"
    """A running agent's weight fell to zero (the allocator's reason in the vote)."""


@dataclass(frozen=True, slots=True)
class Vote:
    agent_id: str
    kind: VoteKind
    reason: str
    inputs: dict[str, str]


@dataclass(frozen=True, slots=True)
class Sample:
    """Each agent's P&L and the budget it held, read from the gateway at one period boundary."""

    ts_ns: int
    pnl: dict[str, Decimal]
    held: dict[str, Decimal]
    shadow: dict[str, Decimal] = field(default_factory=dict)  # variant id -> its P&L

    def payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ts_ns": self.ts_ns,
            "pnl": {k: str(v) for k, v in self.pnl.items()},
            "held": {k: str(v) for k, v in self.held.items()},
        }
        if self.shadow:
            out["shadow"] = {k: str(v) for k, v in self.shadow.items()}
        return out

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Sample:
        return cls(
            int(payload["ts_ns"]),
            {k: Decimal(v) for k, v in payload["pnl"].items()},
            {k: Decimal(v) for k, v in payload["held"].items()},
            {k: Decimal(v) for k, v in payload.get("shadow", {}).items()},
        )


@dataclass(frozen=True, slots=True)
class CouncilDecision:
    """What to do now: budgets to set (None: unchanged) and votes, with the allocator's result.

    ``weights`` are the weights in force after the decision; ``samples`` the samples
    taken since the previous decision (two for the first: the start and this one).
    """

    ts_ns: int
    budgets: dict[str, Decimal] | None
    votes: tuple[Vote, ...]
    allocation: Allocation | None
    weights: dict[str, float] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()
    promotions: tuple[dict[str, str], ...] = ()
    """Variants promoted now: ``variant``, ``incumbent`` and the test's figures."""

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
            "weights": {k: repr(v) for k, v in self.weights.items()},
            "samples": [sample.payload() for sample in self.samples],
            "promotions": [dict(p) for p in self.promotions],
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> CouncilDecision:
        """Read back a logged decision (``log_payload``'s inverse); ``InvalidValue`` names what is wrong."""
        try:
            allocation = payload.get("allocation")
            return cls(
                ts_ns=int(payload["ts_ns"]),
                budgets={k: Decimal(v) for k, v in payload["budgets"].items()} or None,
                votes=tuple(
                    Vote(v["agent"], VoteKind(v["kind"]), v["reason"], dict(v["inputs"]))
                    for v in payload["votes"]
                ),
                allocation=Allocation.model_validate(allocation) if allocation else None,
                weights={k: float(v) for k, v in payload.get("weights", {}).items()},
                samples=tuple(Sample.from_payload(s) for s in payload.get("samples", ())),
                promotions=tuple(
                    {str(k): str(v) for k, v in p.items()} for p in payload.get("promotions", ())
                ),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise InvalidValue(
                "council decision", payload.get("ts_ns"), f"unreadable: {exc!r}"
            ) from None


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
    since: dict[str, int] = field(default_factory=dict)  # agent -> sample index of start/resume
    defunded: dict[str, int] = field(default_factory=dict)  # agent at weight 0 -> since (ns)
    parked: dict[str, float] = field(default_factory=dict)  # paused agent -> its weight then
    shadow_pnl: dict[str, list[Decimal]] = field(default_factory=dict)  # variant id -> P&L samples
    swapped: set[str] = field(default_factory=set)
    """Variants promoted: the incumbent runs the variant's settings, the shadow the old ones."""
    scored_from: dict[str, int] = field(default_factory=dict)  # variant id -> first sample compared
    next_sample_ns: int | None = None
    sampled_ns: list[int] = field(default_factory=list)  # market time of each sample
    periods: int = 0
    history: list[CouncilDecision] = field(default_factory=list)
    _unlogged: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.agents:
            raise InvalidValue("agents", self.agents, "the council needs at least one agent")
        for agent in self.agents:
            self.pnl.setdefault(agent, [])
            self.held.setdefault(agent, [])
        for variant in self.config.variants:
            if variant.of not in self.agents:
                raise InvalidValue(
                    f"variants.{variant.name}.of", variant.of, "is not one of the council's agents"
                )
            self.shadow_pnl.setdefault(variant.agent_id, [])
            self.scored_from.setdefault(variant.agent_id, 0)

    @classmethod
    def from_log(
        cls,
        config: CouncilConfig,
        agents: tuple[str, ...],
        payloads: Iterable[Mapping[str, Any]],
    ) -> CouncilCore:
        """Rebuild the council from its logged decisions (oldest first), as it was after the last.

        The samples, votes and weights in the log are replayed; nothing is re-decided.
        """
        core = cls(config, agents)
        for payload in payloads:
            if is_control(payload):
                continue  # an operator's control on one agent (agents.controls), not a decision
            decision = CouncilDecision.from_payload(payload)
            for sample in decision.samples:
                core._take(sample)
            for vote in decision.votes:
                if vote.agent_id not in core.pnl:
                    continue  # an agent no longer configured
                if vote.kind is VoteKind.PAUSE:
                    core._pause(vote.agent_id, decision.ts_ns)
                elif vote.kind is VoteKind.RESUME:
                    core._resume(vote.agent_id)
                else:
                    core.defunded[vote.agent_id] = decision.ts_ns
            for promotion in decision.promotions:
                core._swap(promotion["variant"])
            core.weights = {a: w for a, w in decision.weights.items() if a in core.pnl}
            core._forget_funded()
            core.history.append(decision)
            core._unlogged.clear()
        return core

    def on_time(
        self,
        ts_ns: int,
        pnls: Mapping[str, Decimal],
        budgets: Mapping[str, Decimal],
        shadows: Mapping[str, Decimal] | None = None,
        quoted_ns: int | None = None,
    ) -> CouncilDecision | None:
        """Sample at a period boundary and decide; return None between boundaries.

        ``shadows``: each shadow variant's P&L in its sandbox (when variants are configured).
        ``quoted_ns``: market time of the last order book the feed carried (None: not
        known); a full period without one means the market data has ended or stalled,
        and nothing is sampled or decided on it.
        """
        if not self.due(ts_ns, quoted_ns):
            return None
        sample = Sample(
            ts_ns,
            {a: v for a in self.agents if (v := pnls.get(a)) is not None},
            {a: budgets.get(a, Decimal(0)) for a in self.agents},
            {k: v for k in self.shadow_pnl if (v := (shadows or {}).get(k)) is not None},
        )
        first = self.next_sample_ns is None
        self._take(sample)
        if first:
            return None
        votes = self._votes(ts_ns, budgets)
        allocation = None
        new_budgets = None
        promotions: list[dict[str, str]] = []
        if self.periods % self.config.reweight_every == 0:
            allocation = self._reweight()
            promotions = self._promotions()
            votes.extend(self._defund_votes(allocation))
        if allocation is not None or votes:
            new_budgets = self._budgets()
        decision = CouncilDecision(
            ts_ns,
            new_budgets,
            tuple(votes),
            allocation,
            dict(self.weights),
            tuple(self._unlogged),
            tuple(promotions),
        )
        self._unlogged.clear()
        self._forget_funded()
        self.history.append(decision)
        return decision

    def pause_reason(self, agent: str) -> str:
        """The reason of the vote that paused ``agent`` (its last pause), for re-asserting it."""
        for decision in reversed(self.history):
            for vote in decision.votes:
                if vote.agent_id == agent and vote.kind is VoteKind.PAUSE:
                    return vote.reason
        return "paused by the council"

    def due(self, ts_ns: int, quoted_ns: int | None = None) -> bool:
        """Whether ``on_time`` would sample now: a boundary reached while books still come."""
        if self.next_sample_ns is not None and ts_ns < self.next_sample_ns:
            return False
        return quoted_ns is None or ts_ns - quoted_ns < self.config.period_ns

    # -- sampling and votes ---------------------------------------------------

    def _take(self, sample: Sample) -> None:
        """Record one sample and move the schedule past it (the same for live and replayed samples)."""
        period = self.config.period_ns
        ts_ns = sample.ts_ns
        self.sampled_ns.append(ts_ns)
        if self.next_sample_ns is None:
            self.next_sample_ns = ts_ns - ts_ns % period + period
        else:
            self.next_sample_ns += period * max(1, (ts_ns - self.next_sample_ns) // period + 1)
            self.periods += 1
        for agent in self.agents:
            value = sample.pnl.get(agent)
            series = self.pnl[agent]
            series.append(value if value is not None else (series[-1] if series else Decimal(0)))
            self.held[agent].append(sample.held.get(agent, Decimal(0)))
            if series[-1] > self.peaks.get(agent, series[-1] - 1):
                self.peaks[agent] = series[-1]
        for variant, series in self.shadow_pnl.items():
            value = sample.shadow.get(variant)
            series.append(value if value is not None else (series[-1] if series else Decimal(0)))
        self._unlogged.append(sample)

    def _pause(self, agent: str, ts_ns: int) -> None:
        self.paused[agent] = ts_ns
        self.parked[agent] = self.weights.pop(agent, 0.0)
        self.defunded.pop(agent, None)

    def _resume(self, agent: str) -> None:
        """Give a resumed agent back its weight from before the pause, within the cash left.

        From now on it is judged only on what it does next: its edge window, its drawdown
        peak and the history the allocator sees start at this sample.
        """
        self.paused.pop(agent, None)
        self.defunded.pop(agent, None)
        parked = self.parked.pop(agent, 0.0)
        room = max(0.0, 1.0 - sum(w for a, w in self.weights.items() if a != agent))
        self.weights[agent] = min(parked, room)
        series = self.pnl[agent]
        self.since[agent] = max(0, len(series) - 1)
        if series:
            self.peaks[agent] = series[-1]

    def _forget_funded(self) -> None:
        """Forget the defund of agents funded again or paused (a pause vote names their zero)."""
        self.defunded = {
            a: ts
            for a, ts in self.defunded.items()
            if a not in self.paused and self.weights.get(a, 0.0) <= 0.0
        }

    def _votes(self, ts_ns: int, budgets: Mapping[str, Decimal]) -> list[Vote]:
        votes: list[Vote] = []
        cfg = self.config
        for agent in self.agents:
            series = self.pnl[agent]
            if agent in self.paused:
                if ts_ns - self.paused[agent] >= cfg.cooling_ns:
                    inputs = {
                        "paused_at_ns": str(self.paused[agent]),
                        "weight_restored": repr(self.parked.get(agent, 0.0)),
                    }
                    self._resume(agent)
                    votes.append(Vote(agent, VoteKind.RESUME, "cooling period over", inputs))
                continue
            defunded_at = self.defunded.get(agent)
            if defunded_at is not None and ts_ns - defunded_at >= cfg.cooling_ns:
                # Zero budget for good would starve it: it explores again from now on.
                self._resume(agent)
                inputs = {"defunded_at_ns": str(defunded_at)}
                votes.append(Vote(agent, VoteKind.RESUME, "explores again after cooling", inputs))
                continue
            budget = budgets.get(agent, Decimal(0))
            drawdown = self.peaks.get(agent, series[-1]) - series[-1]
            if budget > 0 and drawdown > cfg.max_drawdown * budget:
                self._pause(agent, ts_ns)
                inputs = {
                    "drawdown": str(drawdown),
                    "budget": str(budget),
                    "limit": str(cfg.max_drawdown),
                    "since_ns": str(self._since_ns(agent)),
                }
                votes.append(Vote(agent, VoteKind.PAUSE, "drawdown past its limit", inputs))
                continue
            edge = self._negative_edge(agent, budget)
            if edge is not None:
                self._pause(agent, ts_ns)
                votes.append(Vote(agent, VoteKind.PAUSE, "negative edge over the window", edge))
        return votes

    def _since_ns(self, agent: str) -> int:
        """Market time of the sample the agent is judged from (its start or last resume)."""
        index = self.since.get(agent, 0)
        return self.sampled_ns[index] if index < len(self.sampled_ns) else 0

    def _negative_edge(self, agent: str, budget: Decimal) -> dict[str, str] | None:
        """The figures of a significant loss over the edge window since the resume, else None.

        A loss smaller than ``edge_noise`` of the budget (the largest the agent held over the
        window, or its share of the capital when it held none) is noise; so is one whose
        per-period changes do not show it with ``p < edge_alpha``.
        """
        cfg = self.config
        series = self.pnl[agent]
        window_size = cfg.edge_window
        if len(series) - 1 - self.since.get(agent, 0) < window_size:
            return None  # too few periods since the start or the resume: no judgement yet
        window = series[-1 - window_size :]
        loss = window[0] - window[-1]
        scale = max([budget, *self.held[agent][-1 - window_size :]])
        if scale <= 0:
            scale = cfg.capital / len(self.agents)
        limit = cfg.edge_noise * scale
        if loss <= limit:
            return None
        p_value = _loss_p_value([float(b - a) for a, b in itertools.pairwise(window)])
        if p_value >= cfg.edge_alpha:
            return None
        return {
            "from": str(window[0]),
            "to": str(window[-1]),
            "periods": str(window_size),
            "loss": str(loss),
            "noise_limit": str(limit),
            "p_value": repr(p_value),
            "since_ns": str(self._since_ns(agent)),
        }

    def _defund_votes(self, allocation: Allocation) -> list[Vote]:
        """A vote for each running agent whose weight fell to zero now, naming why."""
        votes: list[Vote] = []
        for agent in self.agents:
            if agent in self.paused or agent in self.defunded or self.weights.get(agent, 0.0) > 0:
                continue
            guard = allocation.guards.get(agent)
            if guard is AgentGuard.ALL_LOSSES:
                held = [float(v) for v in self.held[agent]]
                start = self.since.get(agent, 0)
                returns = [
                    r for r in _period_returns(self.pnl[agent], held)[start:] if math.isfinite(r)
                ]
                lost = sum(r < -self.config.allocator.noise for r in returns)
                reason = (
                    f"no period since its start or resume gained: {lost} of {len(returns)} lost"
                )
            elif guard is not None:
                reason = f"no history to rank ({guard}) and no exploration weight"
            elif allocation.reason is AllocationReason.WARMUP:
                reason = "no weight in the warm-up (cap or agents past the capital)"
            else:
                reason = "the Kelly allocation gives it nothing: its returns do not pay their risk"
            start = self.since.get(agent, 0)
            series = self.pnl[agent]
            inputs = {
                "allocation": str(allocation.reason),
                "guard": str(guard) if guard is not None else "",
                "periods": str(len(series) - 1 - start),
                "pnl_since": str(series[-1] - series[start]) if series else "0",
                "since_ns": str(self._since_ns(agent)),
            }
            self.defunded[agent] = self.sampled_ns[-1] if self.sampled_ns else 0
            votes.append(Vote(agent, VoteKind.DEFUND, reason, inputs))
        return votes

    # -- reweighting ------------------------------------------------------------

    # -- variants -----------------------------------------------------------------

    def live_settings(self, incumbent: str) -> dict[str, Any]:
        """The setting overrides the incumbent runs now (a promoted variant's, else none)."""
        for variant in self.config.variants:
            if variant.of == incumbent and variant.agent_id in self.swapped:
                return dict(variant.config)
        return {}

    def shadow_settings(self, variant_id: str) -> tuple[str, dict[str, Any]]:
        """The incumbent a shadow belongs to and the overrides the shadow runs now."""
        for variant in self.config.variants:
            if variant.agent_id == variant_id:
                if variant_id in self.swapped:  # demoted incumbent's settings, in the shadow
                    return variant.of, {}
                return variant.of, dict(variant.config)
        raise InvalidValue("variant", variant_id, "is not a configured variant")

    def _swap(self, variant_id: str) -> None:
        self.swapped ^= {variant_id}
        self.scored_from[variant_id] = len(self.shadow_pnl.get(variant_id, ()))

    def _promotions(self) -> list[dict[str, str]]:
        """Test every variant against its incumbent; swap and report the ones promoted."""
        promoted: list[dict[str, str]] = []
        for variant in self.config.variants:
            vid = variant.agent_id
            start = self.scored_from.get(vid, 0)
            held = [float(h) for h in self.held[variant.of][start:]]
            incumbent = _period_returns(self.pnl[variant.of][start:], held)
            shadow_budget = [h if h > 0 else math.nan for h in held]
            shadow = _period_returns(self.shadow_pnl[vid][start:], shadow_budget)
            verdict = promotion_test(incumbent, shadow, self.config.promotion)
            if verdict.promote:
                self._swap(vid)
                promoted.append({"variant": vid, "incumbent": variant.of, **verdict.payload()})
        return promoted

    def _returns(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Per period and agent: P&L made in the period over the budget held at its start (NaN without one)."""
        columns = []
        for agent in self.agents:
            returns = _period_returns(self.pnl[agent], [float(v) for v in self.held[agent]])
            start = self.since.get(agent, 0)  # judged only since its start or resume
            columns.append([math.nan] * start + returns[start:])
        return np.array(columns, dtype=np.float64).T.reshape(len(columns[0]), len(self.agents))

    def _reweight(self) -> Allocation:
        active = [a for a in self.agents if a not in self.paused]
        matrix = self._returns()
        if active:
            index = [self.agents.index(a) for a in active]
            allocation = allocate(
                matrix[:, index], active, self.config.allocator, self.weights or None
            )
        else:
            allocation = allocate(np.zeros((0, 0)), [], self.config.allocator, None)
        self.weights = dict(allocation.weights)
        return allocation

    def _budgets(self) -> dict[str, Decimal]:
        """Capital times each agent's weight in force (a paused agent holds none)."""
        capital = self.config.capital
        return {
            agent: (capital * Decimal(repr(self.weights.get(agent, 0.0)))).quantize(Decimal("0.01"))
            for agent in self.agents
        }


def _loss_p_value(changes: list[float]) -> float:
    """One-sided p-value that the mean per-period change is below zero (t-test)."""
    count = len(changes)
    mean = sum(changes) / count
    variance = sum((c - mean) ** 2 for c in changes) / (count - 1)
    if variance <= 0.0:
        return 0.0 if mean < 0 else 1.0  # the same loss every period: no doubt
    t_stat = mean / math.sqrt(variance / count)
    return float(stats.t.cdf(t_stat, df=count - 1))


def _period_returns(pnl: list[Decimal], held: list[float]) -> list[float]:
    """P&L made in each period over the budget held at its start (NaN without a budget)."""
    values = [float(v) for v in pnl]
    return [
        (b - a) / h if h > 0 and math.isfinite(a) and math.isfinite(b) else math.nan
        for (a, b), h in zip(itertools.pairwise(values), held, strict=False)
    ]
