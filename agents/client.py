"""The typed facade over ``agent:<id>`` actors for the council, the driver and the operator's
controls (their ``.remote()`` lives here).

The sync calls (driver, CLI, cockpit) retry a call Ray says may or may not have
run (``RayActorError``: the agent died or is restarting) until ``deadline_s``:
every one is idempotent on the agent's side (a pause or a resume twice is one;
a flatten under the same control id places its closing orders once).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


class AgentClient:
    """Pause, resume, flatten and read one agent actor."""

    def __init__(
        self,
        agent_id: str,
        handle: Any | None = None,
        *,
        namespace: str | None = None,
        deadline_s: float = 30.0,
    ) -> None:
        if handle is None:
            import ray

            handle = ray.get_actor(f"agent:{agent_id}", namespace=namespace)
        self.agent_id = agent_id
        self._handle = handle
        self._deadline_s = deadline_s
        self.retries = 0

    @property
    def handle(self) -> Any:
        return self._handle

    # -- SYNC (driver, CLI, cockpit) ---------------------------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        import ray
        from ray.exceptions import RayActorError

        deadline = time.monotonic() + self._deadline_s
        delay = 0.05
        while True:
            try:
                return ray.get(
                    getattr(self._handle, method).remote(*args),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            except RayActorError:
                if time.monotonic() + delay > deadline:
                    raise
                self.retries += 1
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def pause(self, reason: str, by: str = "council") -> int:
        """Pause the agent; return how many of its orders it canceled."""
        canceled: int = self._call("pause", reason, by)
        return canceled

    def resume(self, by: str = "council") -> bool:
        """Lift ``by``'s pause; return whether the agent runs now."""
        running: bool = self._call("resume", by)
        return running

    def flatten(self, control_id: str, reason: str) -> dict[str, Any]:
        """Pause, cancel all, close every position reduce-only; return what was sent."""
        result: dict[str, Any] = self._call("flatten", control_id, reason)
        return result

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("stats")
        return stats

    # -- ASYNC (the council actor) -------------------------------------------------------

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
