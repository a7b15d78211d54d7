"""cli.supervisor without Ray: the loss ledger, and the supervisor re-creating lost agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cli.supervisor import AgentSupervisor, LossLedger


@dataclass
class FakePusher:
    name: str
    handle: Any


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lost(key: str, at: float, actor_id: str | None = None) -> dict[str, Any]:
    """The feed's progress naming ``key`` lost (by default the first actor of that name)."""
    actor = actor_id or f"{key.split(':')[1]}#1"
    return {"lost": {key: {"at": at, "error": "ActorDiedError: x", "actor_id": actor}}}


def make(
    recipes: dict[str, Any] | None = None, decisions: dict[str, int] | None = None
) -> tuple[AgentSupervisor, Clock, dict[str, set[str]], list[Any]]:
    clock = Clock()
    nodes = {"alive": {"head", "worker"}}
    made: list[Any] = []

    def recipe(name: str) -> Any:
        def create(*, replacing: Any) -> Any:
            handle = f"{name}#{len(made) + 2}"
            made.append((name, replacing, handle))
            return handle

        return create

    supervisor = AgentSupervisor(
        {"mm": FakePusher("mm", "mm#1"), "arb": FakePusher("arb", "arb#1")},
        recipes if recipes is not None else {"mm": recipe("mm"), "arb": recipe("arb")},
        nodes=lambda: set(nodes["alive"]),
        placed_on=lambda: {"agent:mm": "worker", "agent:arb": "head"},
        actor_id=str,
        pusher=FakePusher,
        stats=lambda name, handle: {
            "decisions": (decisions if decisions is not None else {}).get(handle, 0)
        },
        clock=clock,
    )
    return supervisor, clock, nodes, made


def test_check_when_feed_lost_an_agent_then_recreated_replacing_the_lost_handle() -> None:
    supervisor, clock, _, made = make()
    clock.now = 1002.0
    supervisor.check(lost("agent:mm", 1001.0))
    assert made == [("mm", "mm#1", "mm#2")]
    assert supervisor.pushers["mm"].handle == "mm#2"  # the driver's pusher follows
    assert supervisor.pushers["arb"].handle == "arb#1"
    row = supervisor.ledger.summary()["actors_lost"][0]
    assert row["actor"] == "agent:mm" and row["recreated_at"] == 1002.0
    assert row["deciding_at"] is None


def test_check_when_same_loss_reported_twice_then_recreated_once() -> None:
    supervisor, _, _, made = make()
    supervisor.check(lost("agent:mm", 1001.0))
    supervisor.check(lost("agent:mm", 1001.0))  # the feed has not looked the name up yet
    assert len(made) == 1
    assert len(supervisor.ledger.losses) == 1


def test_check_when_recreated_agent_decides_then_recovery_time_recorded() -> None:
    decisions: dict[str, int] = {}
    supervisor, clock, _, _ = make(decisions=decisions)
    clock.now = 1002.0
    supervisor.check(lost("agent:mm", 1001.0))
    assert supervisor.ledger.summary()["agents_not_back"] == ["agent:mm"]
    decisions["mm#2"] = 3
    clock.now = 1007.5
    supervisor.check({"lost": {}})
    summary = supervisor.ledger.summary()
    assert summary["actors_lost"][0]["recovery_s"] == 6.5
    assert summary["recovery_max_s"] == 6.5
    assert summary["agents_not_back"] == []


def test_check_when_recreated_agent_has_not_decided_then_not_back() -> None:
    supervisor, _, _, _ = make()
    supervisor.check(lost("agent:mm", 1001.0))
    supervisor.check({"lost": {}})
    assert supervisor.ledger.summary()["agents_not_back"] == ["agent:mm"]


def test_check_when_recreation_fails_then_counted_and_tried_again() -> None:
    calls = []

    def failing(*, replacing: Any) -> Any:
        calls.append(replacing)
        if len(calls) == 1:
            raise ValueError("no node can take it")
        return "mm#2"

    supervisor, _, _, _ = make(recipes={"mm": failing})
    supervisor.check(lost("agent:mm", 1001.0))
    assert supervisor.pushers["mm"].handle == "mm#1"
    assert supervisor.ledger.summary()["actors_lost"][0]["recreate_failures"] == 1
    supervisor.check({"lost": {}})
    assert supervisor.pushers["mm"].handle == "mm#2"


def test_check_when_venue_lost_then_recorded_and_not_recreated() -> None:
    supervisor, _, _, made = make()
    supervisor.check({"lost": {"venue:okx": {"at": 1001.0, "error": "x", "actor_id": "v"}}})
    assert made == []
    assert supervisor.ledger.summary()["actors_lost"][0]["actor"] == "venue:okx"


def test_check_when_a_node_dies_then_one_node_loss_recorded() -> None:
    supervisor, clock, nodes, _ = make()
    supervisor.check({})
    assert supervisor.ledger.summary()["node_losses"] == []
    nodes["alive"] = {"head"}
    clock.now = 1003.0
    supervisor.check({})
    supervisor.check({})
    assert supervisor.ledger.summary()["node_losses"] == [
        {"node_id": "worker", "seen_dead_at": 1003.0}
    ]


def test_check_when_node_dies_then_only_the_agents_placed_there_recreated() -> None:
    supervisor, clock, nodes, made = make()
    nodes["alive"] = {"head"}
    clock.now = 1004.0
    supervisor.check({})  # the feed has noticed nothing: its push hangs
    assert made == [("mm", "mm#1", "mm#2")]
    row = supervisor.ledger.summary()["actors_lost"][0]
    assert row["actor"] == "agent:mm" and row["lost_at"] == 1004.0
    assert "worker" in row["error"]


def test_check_when_feed_reports_the_replaced_actor_then_not_recreated_again() -> None:
    supervisor, _, nodes, made = make()
    nodes["alive"] = {"head"}
    supervisor.check({})
    supervisor.check(lost("agent:mm", 1005.0, actor_id="mm#1"))  # the old one's pushes failed
    assert len(made) == 1 and supervisor.pushers["mm"].handle == "mm#2"
    supervisor.check(lost("agent:mm", 1009.0, actor_id="mm#2"))  # the new one lost: again
    assert len(made) == 2


def test_ledger_when_agent_lost_twice_then_two_losses() -> None:
    ledger = LossLedger()
    assert ledger.note_lost("agent:mm", 1.0, "x") is not None
    assert ledger.note_lost("agent:mm", 1.0, "x") is None
    assert ledger.note_lost("agent:mm", 9.0, "x") is not None
    assert len(ledger.to_recreate()) == 2
