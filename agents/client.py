"""The typed facade over ``agent:<id>`` actors for the council and the driver (their ``.remote()`` lives here)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


class AgentClient:
    """Pause, resume and read one agent actor."""

    def __init__(self, agent_id: str, handle: Any | None = None) -> None:
        if handle is None:
            import ray

            handle = ray.get_actor(f"agent:{agent_id}")
        self.agent_id = agent_id
        self._handle = handle

    async def apause(self, reason: str) -> int:
        canceled: int = await self._handle.pause.remote(reason)
        return canceled

    async def aresume(self) -> None:
        await self._handle.resume.remote()

    async def ascore(self) -> dict[str, Decimal] | None:
        score: dict[str, Decimal] | None = await self._handle.score.remote()
        return score

    async def areconfigure(self, config: Mapping[str, Any]) -> bool:
        changed: bool = await self._handle.reconfigure.remote(dict(config))
        return changed

    async def astats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self._handle.stats.remote()
        return stats
