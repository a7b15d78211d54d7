"""A council that does no harm (issue 11 part 5): each defect measured on main, reproduced."""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocator.empirical import AllocatorConfig
from allocator.estimation import AgentGuard
from council.core import CouncilConfig, CouncilCore, CouncilDecision, VoteKind

D = Decimal
M = 60 * 1_000_000_000
P = 30 * M  # the paper config's period
AGENTS = ("mm", "funding-arb", "liq-hunter")
THIRD = D("33333.33")
BUDGETS = dict.fromkeys(AGENTS, THIRD)


def paper_council(**overrides: object) -> CouncilCore:
    """The default paper council: 30-minute periods, an 8-period window, 2 hours of cooling."""
    fields: dict[str, object] = {
        "capital": D(100_000),
        "period_ns": P,
        "reweight_every": 2,
        "max_drawdown": D("0.05"),
        "edge_window": 8,
        "cooling_ns": 4 * P,
        "allocator": AllocatorConfig(min_history=4, max_turnover=0.25, halflife=24, noise=1e-4),
    }
    fields.update(overrides)
    return CouncilCore(CouncilConfig(**fields), AGENTS)  # type: ignore[arg-type]


def run(core: CouncilCore, mm_pnl: list[str], start: int = 0) -> list[CouncilDecision]:
    """Feed the mm's P&L (the others flat at 0) one period at a time; return the decisions."""
    decisions = []
    for t, value in enumerate(mm_pnl, start=start):
        budgets = core._budgets() if core.weights else BUDGETS
        pnls = {"mm": D(value), "funding-arb": D(0), "liq-hunter": D(0)}
        decision = core.on_time(t * P, pnls, budgets)
        if decision is not None:
            decisions.append(decision)
    return decisions


EQUAL = AllocatorConfig(min_history=1000)  # equal weights throughout: the votes alone


def votes(decisions: list[CouncilDecision]) -> list[tuple[int, str, VoteKind]]:
    return [(d.ts_ns // P, v.agent_id, v.kind) for d in decisions for v in d.votes]


# -- EDGE: ONLY SINCE THE RESUME, A MINIMUM SAMPLE, A NOISE THRESHOLD ------------------


def test_vote_when_loss_is_a_rounding_error_then_no_pause() -> None:
    # Measured on main: the mm paused at 04:00 for -0.112 USDT over 8 periods on 33,333.
    path = ["0", "0", "-0.0506", "-0.0506", "-0.0506", "-0.0506", "-0.0506", "-0.0923", "-0.1121"]
    assert votes(run(paper_council(), path)) == []


def test_vote_when_losses_before_pause_then_not_repaused_after_resume() -> None:
    # Measured on main: paused at 04:00, resumed at 06:00 and re-paused at 06:30 on the
    # same losses from before the pause, with no new trade.
    core = paper_council(edge_noise=D("0"), max_drawdown=D("1"), allocator=EQUAL)
    losing = [str(-100 * t) for t in range(9)]  # 100 a period: paused after 8 periods
    flat_after = [losing[-1]] * 12  # nothing new after the pause
    decisions = run(core, losing + flat_after)
    assert votes(decisions) == [(8, "mm", VoteKind.PAUSE), (12, "mm", VoteKind.RESUME)]
    pause = decisions[7].votes[0]
    assert pause.inputs["loss"] == "800" and pause.inputs["since_ns"] == "0"


def test_vote_when_window_spans_resume_then_judged_only_after_min_sample() -> None:
    core = paper_council(edge_noise=D("0"), max_drawdown=D("1"), allocator=EQUAL)
    path = [str(-100 * t) for t in range(9)] + ["-800"] * 4  # paused at 8, resumed at 12
    path += [str(-800 - 100 * t) for t in range(1, 10)]  # loses again after the resume
    found = votes(run(core, path))
    assert found[:2] == [(8, "mm", VoteKind.PAUSE), (12, "mm", VoteKind.RESUME)]
    assert found[2] == (20, "mm", VoteKind.PAUSE)  # 8 periods after the resume, not sooner
    [again] = [d for d in core.history if d.ts_ns == 20 * P]
    assert again.votes[0].inputs["since_ns"] == str(12 * P)


def test_vote_when_loss_is_not_significant_then_no_pause() -> None:
    # Down 150 over the window (above the noise limit) but up and down by hundreds.
    swings = ["0", "400", "-300", "350", "-350", "300", "-400", "250", "-150"]
    core = paper_council(max_drawdown=D("1"), allocator=EQUAL)
    assert votes(run(core, swings)) == []
    steady = [str(-20 * t) for t in range(9)]  # down 160 the same way every period
    core = paper_council(max_drawdown=D("1"), allocator=EQUAL)
    assert votes(run(core, steady)) == [(8, "mm", VoteKind.PAUSE)]


def test_vote_when_drawdown_before_pause_then_peak_restarts_at_resume() -> None:
    core = paper_council(max_drawdown=D("0.01"), edge_window=50, allocator=EQUAL)  # 333
    path = ["0", "0", "-400"] + ["-400"] * 6  # paused at 2, resumed at 6
    found = votes(run(core, path))
    assert found == [(2, "mm", VoteKind.PAUSE), (6, "mm", VoteKind.RESUME)]
    assert core.peaks["mm"] == D(-400)


# -- NO DECISION AFTER THE MARKET DATA HAS ENDED ----------------------------------------


def test_on_time_when_no_book_for_a_period_then_no_decision() -> None:
    # Measured on main: a pause at 14:00 while the books of the day ended at 12:00.
    core = paper_council()
    last_book = 24 * P  # 12:00
    for t in range(25):
        core.on_time(t * P, dict.fromkeys(AGENTS, D(0)), BUDGETS, quoted_ns=t * P)
    decided = len(core.history)
    for t in range(25, 48):  # trade bars go on to midnight, no book
        assert (
            core.on_time(t * P, dict.fromkeys(AGENTS, D(0)), BUDGETS, quoted_ns=last_book) is None
        )
    assert len(core.history) == decided and core.sampled_ns[-1] == last_book
    assert core.on_time(48 * P, dict.fromkeys(AGENTS, D(0)), BUDGETS, quoted_ns=48 * P)


# -- EXPLORATION BUDGET; NO ZERO WITHOUT A VOTE --------------------------------------------


def test_reweight_when_agents_flat_then_they_keep_weight_and_never_zero_unvoted() -> None:
    # Measured on main: funding-arb and liq-hunter ended every run at weight 0, no vote.
    core = paper_council()
    path = ["0", "0"] + [str(40 * t) for t in range(1, 40)]  # the mm earns steadily
    decisions = run(core, path)
    last = decisions[-1]
    assert last.allocation is not None and str(last.allocation.reason) != "degenerate_guard"
    assert last.allocation.guards["funding-arb"] is AgentGuard.SHORT_HISTORY  # never moved
    assert core.weights["funding-arb"] == core.weights["liq-hunter"] == 0.05
    assert core.weights["mm"] > 0.05
    assert last.budgets is not None and last.budgets["liq-hunter"] == D(5000)
    assert all(v.kind is not VoteKind.DEFUND for d in decisions for v in d.votes)


def test_reweight_when_resumed_then_explores_from_its_resume() -> None:
    core = paper_council(edge_noise=D("0"), max_drawdown=D("1"))
    path = [str(-100 * t) for t in range(9)] + ["-800"] * 6  # paused at 8, resumed at 12
    run(core, path)
    last = core.history[-1]
    assert last.allocation is not None
    assert last.allocation.guards["mm"] is AgentGuard.SHORT_HISTORY  # 2 periods since resume


def test_defund_when_weight_falls_to_zero_then_one_vote_names_agent_and_reason() -> None:
    core = paper_council(edge_noise=D("1"), max_drawdown=D("1000"), cooling_ns=100 * P)
    path = [str(-10 * t) for t in range(30)]  # loses every period: no pause, only weights
    decisions = run(core, path)
    defunds = [(d, v) for d in decisions for v in d.votes if v.kind is VoteKind.DEFUND]
    assert len(defunds) == 1  # once, not at every decision while it stays at zero
    decision, vote = defunds[0]
    assert vote.agent_id == "mm"
    assert vote.reason == "no period since its start or resume gained: 6 of 6 lost"
    assert vote.inputs["guard"] == "all_losses" and decision.weights["mm"] == 0.0
    before = decisions[decisions.index(decision) - 2].weights["mm"]  # the previous reweighting
    assert 0.0 < before <= 0.25 + 1e-9  # it went down by the turnover limit, not at once
    assert core.defunded == {"mm": decision.ts_ns}
    rebuilt = CouncilCore.from_log(core.config, AGENTS, [d.log_payload() for d in decisions])
    assert rebuilt.defunded == core.defunded and rebuilt.since == core.since


def test_defund_when_cooling_over_then_explores_again_instead_of_starving() -> None:
    # Issue 11: with zero budget an agent could never earn its way back.
    core = paper_council(edge_noise=D("1"), max_drawdown=D("1000"))
    losing = [str(-10 * t) for t in range(7)]  # defunded at 6 (turnover-limited from 2)
    decisions = run(core, losing)
    [defunded_at] = [d.ts_ns for d in decisions for v in d.votes if v.kind is VoteKind.DEFUND]
    later = run(core, [losing[-1]] * 14, start=7)  # flat afterwards, cooling is 4 periods
    resumes = [(d, v) for d in later for v in d.votes if v.kind is VoteKind.RESUME]
    assert resumes and resumes[0][1].reason == "explores again after cooling"
    assert resumes[0][0].ts_ns - defunded_at >= core.config.cooling_ns
    assert resumes[0][1].inputs == {"defunded_at_ns": str(defunded_at)}
    assert core.weights["mm"] > 0.0 and core.since["mm"] >= 7
    assert later[-1].allocation is not None
    # judged only since its return: flat (no period that moved), so it explores
    assert later[-1].allocation.guards["mm"] is AgentGuard.SHORT_HISTORY
    assert core.weights["mm"] == pytest.approx(0.05)


def test_from_log_when_paused_and_resumed_then_resume_point_rebuilt() -> None:
    core = paper_council(edge_noise=D("0"), max_drawdown=D("1"))
    decisions = run(core, [str(-100 * t) for t in range(9)] + ["-800"] * 6)
    rebuilt = CouncilCore.from_log(core.config, AGENTS, [d.log_payload() for d in decisions])
    assert rebuilt.since == core.since == {"mm": 12}
    assert rebuilt.peaks == core.peaks and rebuilt.sampled_ns == core.sampled_ns
    for t in range(15, 30):
        pnls = {"mm": D(-800 - 50 * (t - 14)), "funding-arb": D(0), "liq-hunter": D(0)}
        a = core.on_time(t * P, pnls, core._budgets())
        b = rebuilt.on_time(t * P, pnls, rebuilt._budgets())
        assert (a.log_payload() if a else None) == (b.log_payload() if b else None)
