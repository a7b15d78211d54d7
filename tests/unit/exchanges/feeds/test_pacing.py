from __future__ import annotations

import pytest

from core.clock import NS_PER_S, SimulatedClock
from core.errors import InvalidValue
from exchanges.feeds.pacing import ReplayPacer, parse_speed


@pytest.mark.parametrize(
    ("text", "expected"), [("max", None), ("MAX", None), ("1", 1.0), ("60", 60.0), (2.5, 2.5)]
)
def test_parse_speed_when_valid_then_multiple_or_none(
    text: str | float, expected: float | None
) -> None:
    assert parse_speed(text) == expected


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "fast", ""])
def test_parse_speed_when_bad_then_invalid_value_names_speed(bad: str) -> None:
    with pytest.raises(InvalidValue, match="speed"):
        parse_speed(bad)


def test_pacer_when_speed_10_then_sleeps_a_tenth_of_market_time() -> None:
    clock = SimulatedClock(1_000 * NS_PER_S)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(int(seconds * NS_PER_S))

    pacer = ReplayPacer(10.0, clock, sleep)
    assert pacer.wait_until(50 * NS_PER_S) == 0.0  # the first event sets the origin
    pacer.wait_until(60 * NS_PER_S)  # 10 s of market time -> 1 s of wall time
    assert slept == [pytest.approx(1.0)]
    clock.advance(5 * NS_PER_S)  # the consumer was slow: no sleep to catch up
    assert pacer.wait_until(70 * NS_PER_S) == 0.0


def test_pacer_when_max_then_never_sleeps() -> None:
    pacer = ReplayPacer(None, SimulatedClock(), lambda s: pytest.fail("slept"))
    assert pacer.wait_until(10**18) == 0.0
