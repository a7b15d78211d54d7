"""Labelled crash points on the order path, inert unless a test or a chaos config arms them.

The gateway calls ``crash_points.reach("after_wal_append")`` at each labelled place.
Unarmed (the default, and always in live trading), that is one dict lookup. Armed,
the chosen point fires on its n-th reach: in the deterministic simulation it raises
``SimulatedCrash`` (the driver then rebuilds the gateway from its WAL); in a real
actor the handler ends the process with ``os._exit`` so Ray restarts it exactly
like after a SIGKILL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from core.errors import InvalidValue

POINTS: Final = (
    "before_wal_append",
    "after_wal_append",
    "before_send",
    "after_send",
    "after_result_logged",
    "mid_fill",
    "mid_cancel",
    "mid_breaker_transition",
    "mid_recovery",
)


class SimulatedCrash(Exception):
    """Raised by an armed crash point in-process: the gateway 'dies' here."""

    def __init__(self, point: str) -> None:
        super().__init__(f"simulated crash at {point}")
        self.point = point


def _raise(point: str) -> None:
    raise SimulatedCrash(point)


@dataclass
class CrashPoints:
    """Which points are armed, and after how many reaches each fires."""

    armed: dict[str, int] = field(default_factory=dict)
    on_fire: Callable[[str], None] = _raise
    reached: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, int] | str | None, on_fire: Callable[[str], None] = _raise
    ) -> CrashPoints:
        """Arm from ``{"after_send": 3}`` or the text ``"after_send:3,mid_fill"`` (count 1 by default)."""
        armed: dict[str, int] = {}
        if isinstance(spec, str):
            for item in filter(None, (p.strip() for p in spec.split(","))):
                name, _, times = item.partition(":")
                armed[name] = int(times) if times else 1
        elif spec:
            armed = dict(spec)
        for point, reaches in armed.items():
            if point not in POINTS:
                raise InvalidValue("crash_point", point, f"not one of {', '.join(POINTS)}")
            if reaches < 1:
                raise InvalidValue(f"crash_point.{point}", reaches, "must be >= 1")
        return cls(armed=armed, on_fire=on_fire)

    def reach(self, point: str) -> None:
        """Count a reach of ``point``; fire (once) when it is armed and its count is reached."""
        if not self.armed:
            return
        count = self.reached.get(point, 0) + 1
        self.reached[point] = count
        if self.armed.get(point) == count:
            del self.armed[point]
            self.on_fire(point)

    def disarm(self) -> None:
        self.armed.clear()


INERT: Final = CrashPoints()
