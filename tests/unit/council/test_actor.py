"""The council actor's shell without Ray: fake gateway and agent clients."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from council.actor import CouncilActor

D = Decimal
P = 1_800_000_000_000
CONFIG = {
    "capital": "90000",
    "period_ns": P,
    "edge_window": 2,
    "edge_noise": "0",
    "max_drawdown": "1",
    "cooling_ns": 100 * P,
    "allocator": {"min_history": 1000},
}


@dataclass
class View:
    pnl: Decimal
    budget: Decimal


@dataclass
class Gateway:
    pnl: dict[str, Decimal]
    logged: list[dict[str, Any]] = field(default_factory=list)

    async def acouncil_log(self) -> list[dict[str, Any]]:
        return list(self.logged)

    async def asnapshot(self) -> Any:
        agents = {a: View(v, D(30_000)) for a, v in self.pnl.items()}
        return type("Snapshot", (), {"agents": agents})()

    async def alog_council(self, payload: dict[str, Any], budgets: Any) -> None:
        self.logged.append(payload)


@dataclass
class Agent:
    agent_id: str
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def apause(self, reason: str) -> int:
        self.calls.append(("pause", reason))
        return 0

    async def aresume(self) -> None:
        self.calls.append(("resume", ""))


def test_tick_when_agent_paused_then_pause_reasserted_at_every_decision() -> None:
    # README's known gap: an agent actor that Ray restarts comes back running and the
    # council did not re-send the pause.
    gateway = Gateway({"a": D(0), "b": D(0)})
    agents: dict[str, Agent] = {}

    def client(agent_id: str) -> Agent:
        return agents.setdefault(agent_id, Agent(agent_id))

    actor = CouncilActor(CONFIG, ("a", "b"), gateway=gateway, agent_client=client)

    async def run() -> None:
        for t in range(6):
            gateway.pnl["a"] = D(-100 * t)  # a loses every period: paused at t=2
            await actor.tick(t * P, quoted_ns=t * P)

    asyncio.run(run())
    reason = "negative edge over the window"
    assert agents["a"].calls == [("pause", reason)] * 4  # the vote at 2, then 3, 4 and 5
    assert "b" not in agents  # never paused: never called


def test_tick_when_books_ended_then_gateway_not_read_and_nothing_decided() -> None:
    gateway = Gateway({"a": D(0), "b": D(0)})
    actor = CouncilActor(CONFIG, ("a", "b"), gateway=gateway, agent_client=Agent)

    async def run() -> list[Any]:
        return [await actor.tick(t * P, quoted_ns=2 * P) for t in range(6)]

    results = asyncio.run(run())
    assert [r is not None for r in results] == [False, True, True, False, False, False]
    assert len(gateway.logged) == 2
