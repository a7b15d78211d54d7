from __future__ import annotations

import pytest

from core.errors import InvalidValue
from gateway.crashpoints import POINTS, CrashPoints, SimulatedCrash


def test_reach_when_unarmed_then_nothing_happens() -> None:
    points = CrashPoints()
    for point in POINTS:
        points.reach(point)
    assert points.reached == {}


def test_reach_when_armed_for_third_time_then_fires_once_on_third() -> None:
    points = CrashPoints.from_spec("after_send:3")
    points.reach("after_send")
    points.reach("before_send")
    points.reach("after_send")
    with pytest.raises(SimulatedCrash) as exc:
        points.reach("after_send")
    assert exc.value.point == "after_send"
    points.reach("after_send")  # fired once, then inert


def test_from_spec_when_unknown_point_or_bad_count_then_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="crash_point"):
        CrashPoints.from_spec("after_lunch")
    with pytest.raises(InvalidValue, match="must be >= 1"):
        CrashPoints.from_spec({"mid_fill": 0})


def test_on_fire_when_given_then_called_instead_of_raising() -> None:
    fired: list[str] = []
    points = CrashPoints.from_spec({"mid_fill": 1}, on_fire=fired.append)
    points.reach("mid_fill")
    assert fired == ["mid_fill"]
