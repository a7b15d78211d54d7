from __future__ import annotations

from decimal import Decimal

import pytest

from allocator.empirical import AllocatorConfig
from core.errors import InvalidValue
from council.core import CouncilConfig, CouncilCore, CouncilDecision, VoteKind

D = Decimal
H = 3_600 * 1_000_000_000


def council(**overrides: object) -> CouncilCore:
    fields: dict[str, object] = {
        "capital": D(90_000),
        "period_ns": H,
        "edge_window": 5,
        "cooling_ns": 10 * H,
        "allocator": AllocatorConfig(min_history=3, max_turnover=1.0),
    }
    fields.update(overrides)
    return CouncilCore(CouncilConfig(**fields), ("a", "b", "c"))  # type: ignore[arg-type]


BUDGETS = {"a": D(30_000), "b": D(30_000), "c": D(30_000)}


def test_on_time_when_between_boundaries_then_no_decision() -> None:
    core = council()
    assert core.on_time(0, {"a": D(100)}, BUDGETS) is None  # first sample
    assert core.on_time(H // 2, {"a": D(100)}, BUDGETS) is None
    assert core.on_time(H, {"a": D(101)}, BUDGETS) is not None


def test_reweight_when_warming_up_then_equal_weights_and_budgets_split_capital() -> None:
    core = council(allocator=AllocatorConfig(min_history=100))
    core.on_time(0, {a: D(30_000) for a in "abc"}, BUDGETS)
    decision = core.on_time(H, {a: D(30_000) for a in "abc"}, BUDGETS)
    assert decision is not None and decision.allocation is not None
    assert str(decision.allocation.reason) == "equal_weight_warmup"
    assert decision.budgets is not None
    assert len(set(decision.budgets.values())) == 1
    assert sum(decision.budgets.values()) <= D(90_000)
    assert decision.log_payload()["allocation"]["reason"] == "equal_weight_warmup"


def test_reweight_when_one_agent_earns_steadily_then_it_gets_the_most_capital() -> None:
    core = council(edge_window=50)
    equity = {"a": D(30_000), "b": D(30_000), "c": D(30_000)}
    core.on_time(0, equity, BUDGETS)
    decision = None
    for t in range(1, 40):
        equity = {
            "a": equity["a"] * D("1.002"),  # a steady small edge
            "b": equity["b"] * (D("1.01") if t % 2 else D("0.99")),  # noise, no edge
            "c": equity["c"] * (D("1.004") if t % 3 else D("0.99")),
        }
        decision = core.on_time(t * H, equity, BUDGETS)
    assert decision is not None and decision.budgets is not None
    assert decision.budgets["a"] == max(decision.budgets.values())
    assert sum(decision.budgets.values()) <= D(90_000)


def test_votes_when_drawdown_past_limit_then_paused_then_resumed_after_cooling() -> None:
    core = council(max_drawdown=D("0.1"))
    core.on_time(0, {"a": D(30_000), "b": D(30_000), "c": D(30_000)}, BUDGETS)
    decision = core.on_time(H, {"a": D(26_000), "b": D(30_000), "c": D(30_000)}, BUDGETS)
    assert decision is not None
    [vote] = decision.votes
    assert (
        vote.agent_id == "a" and vote.kind is VoteKind.PAUSE and vote.inputs["drawdown"] == "4000"
    )
    assert (
        decision.budgets is not None and decision.budgets["a"] == 0
    )  # a paused agent gets no new capital
    for t in range(2, 12):
        decision = core.on_time(t * H, {"a": D(26_000), "b": D(30_000), "c": D(30_000)}, BUDGETS)
        assert decision is not None
        if decision.votes:
            break
    assert decision is not None and decision.votes[0].kind is VoteKind.RESUME


def test_votes_when_negative_edge_over_window_then_paused_with_inputs() -> None:
    core = council(edge_window=3, max_drawdown=D("0.9"))
    core.on_time(0, {"a": D(100), "b": D(100), "c": D(100)}, BUDGETS)
    votes = []
    for t, value in enumerate(("40", "-20", "-80", "-140"), start=1):  # 60 a period
        decision = core.on_time(t * H, {"a": D(value), "b": D(100), "c": D(100)}, BUDGETS)
        assert decision is not None
        votes.extend(decision.votes)
    assert [(v.agent_id, v.kind, v.reason) for v in votes] == [
        ("a", VoteKind.PAUSE, "negative edge over the window")
    ]


def test_council_when_no_agents_then_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="agents"):
        CouncilCore(CouncilConfig(capital=D(1)), ())


def test_reweight_when_no_agent_can_be_ranked_then_weights_in_force_are_kept() -> None:
    core = council(allocator=AllocatorConfig(min_history=2, max_turnover=1.0), edge_window=50)
    flat = {"a": D(0), "b": D(0), "c": D(0)}
    core.on_time(0, flat, BUDGETS)
    budgets = []
    for t in range(1, 6):
        decision = core.on_time(t * H, flat, BUDGETS)  # no P&L at all: nothing to rank
        assert decision is not None and decision.budgets is not None
        budgets.append(decision.budgets)
    assert budgets[0] == budgets[-1]  # the warm-up's equal split stays in force
    assert sum(budgets[-1].values()) > D(0)


def _noisy_equity(t: int) -> dict[str, Decimal]:
    """A deterministic path where a earns, b is noise, c loses steadily (so it is voted off)."""
    return {
        "a": D(30_000) + D(40) * t,
        "b": D(30_000) + (D(300) if t % 2 else D(-250)),
        "c": D(30_000) - D(900) * t,
    }


def _budgets_after(decision: object, budgets: dict[str, Decimal]) -> dict[str, Decimal]:
    new = getattr(decision, "budgets", None)
    return dict(new) if new else budgets


def test_from_log_when_rebuilt_mid_run_then_decides_exactly_as_the_original() -> None:
    config_overrides = {"edge_window": 3, "cooling_ns": 4 * H, "max_drawdown": D("0.05")}
    original = council(**config_overrides)
    budgets = dict(BUDGETS)
    logged: list[dict[str, object]] = []
    for t in range(0, 9):
        decision = original.on_time(t * H, _noisy_equity(t), budgets)
        if decision is not None:
            logged.append(decision.log_payload())
            budgets = _budgets_after(decision, budgets)
    assert any(v["kind"] == "pause" for p in logged for v in p["votes"])  # type: ignore[attr-defined]
    rebuilt = CouncilCore.from_log(original.config, original.agents, logged)
    assert rebuilt.pnl == original.pnl and rebuilt.held == original.held
    assert rebuilt.paused == original.paused and rebuilt.parked == original.parked
    assert rebuilt.weights == original.weights and rebuilt.peaks == original.peaks
    assert (rebuilt.next_sample_ns, rebuilt.periods) == (original.next_sample_ns, original.periods)
    assert rebuilt.since == original.since and rebuilt.sampled_ns == original.sampled_ns
    assert rebuilt.defunded == original.defunded
    for t in range(9, 20):
        a = original.on_time(t * H, _noisy_equity(t), budgets)
        b = rebuilt.on_time(t * H, _noisy_equity(t), budgets)
        assert (a.log_payload() if a else None) == (b.log_payload() if b else None)
        budgets = _budgets_after(a, budgets)


def test_from_log_when_payload_unreadable_then_invalid_value_names_it() -> None:
    with pytest.raises(InvalidValue, match="council decision"):
        CouncilCore.from_log(council().config, ("a", "b", "c"), [{"ts_ns": 5, "budgets": 3}])


def test_resume_when_cooling_over_then_agent_gets_its_weight_back_and_a_budget() -> None:
    core = council(
        max_drawdown=D("0.1"),
        cooling_ns=2 * H,
        allocator=AllocatorConfig(min_history=100, max_turnover=1.0),  # warm-up: equal weights
    )
    core.on_time(0, {a: D(30_000) for a in "abc"}, BUDGETS)
    first = core.on_time(H, {a: D(30_000) for a in "abc"}, BUDGETS)
    assert first is not None and first.budgets is not None
    share = first.budgets["a"]
    paused = core.on_time(2 * H, {"a": D(26_000), "b": D(30_000), "c": D(30_000)}, BUDGETS)
    assert paused is not None and paused.budgets is not None
    assert [v.kind for v in paused.votes] == [VoteKind.PAUSE] and paused.budgets["a"] == 0
    resumed = None
    for t in range(3, 8):
        resumed = core.on_time(t * H, {"a": D(26_000), "b": D(30_000), "c": D(30_000)}, BUDGETS)
        if resumed is not None and resumed.votes:
            break
    assert resumed is not None and [v.kind for v in resumed.votes] == [VoteKind.RESUME]
    assert resumed.budgets is not None and resumed.budgets["a"] == share
    assert resumed.votes[0].inputs["weight_restored"] == repr(core.weights["a"])


def test_decision_payload_when_read_back_then_equal() -> None:
    core = council()
    core.on_time(0, {a: D(100) for a in "abc"}, BUDGETS)
    decision = core.on_time(H, {a: D(101) for a in "abc"}, BUDGETS)
    assert decision is not None
    payload = decision.log_payload()
    assert len(payload["samples"]) == 2  # the start and this boundary
    assert CouncilDecision.from_payload(payload).log_payload() == payload
