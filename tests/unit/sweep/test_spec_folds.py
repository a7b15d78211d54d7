"""The sweep's spec (what it searches) and walk-forward folds (where it chooses and scores)."""

from __future__ import annotations

import pytest

from core.config import validate_config
from core.errors import ConfigError, InvalidValue
from sweep.folds import folds_of
from sweep.spec import SweepSpec, WalkForward

S = 1_000_000_000


def _spec(**overrides: object) -> SweepSpec:
    raw = {"agent": "mm", "params": {"gamma": [0.1, 0.2], "refresh_ticks": [5, 10, 20]}}
    raw.update(overrides)
    return validate_config(raw, SweepSpec, "sweep.toml")


def test_grid_when_two_axes_then_every_combination_in_order() -> None:
    points = list(_spec().grid())
    assert len(points) == 6
    assert points[0] == {"gamma": 0.1, "refresh_ticks": 5}
    assert points[-1] == {"gamma": 0.2, "refresh_ticks": 20}


@pytest.mark.parametrize(
    ("params", "search", "key"),
    [
        ({"gamma": []}, "grid", "gamma"),
        ({}, "grid", "params"),
        ({"gamma": {"low": 0.1, "high": 1.0}}, "grid", "gamma"),
        ({"gamma": {"low": 1.0, "high": 0.1}}, "optuna", "gamma"),
        ({"gamma": {"low": 0.0, "high": 1.0, "log": True}}, "optuna", "gamma"),
    ],
)
def test_spec_when_bad_params_then_config_error_names_them(
    params: dict[str, object], search: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        _spec(params=params, search=search)


def test_spec_when_unknown_key_then_config_error() -> None:
    with pytest.raises(ConfigError, match="trails"):
        _spec(trails=3)


def test_folds_when_anchored_then_training_grows_and_tests_follow_with_purge() -> None:
    folds = folds_of(0, 300 * S, WalkForward(folds=2, mode="anchored", purge_s=10))
    assert [(f.train_start_ns, f.train_end_ns) for f in folds] == [(0, 100 * S), (0, 200 * S)]
    assert [(f.test_start_ns, f.test_end_ns) for f in folds] == [
        (110 * S, 200 * S), (210 * S, 300 * S),
    ]  # fmt: skip
    for fold in folds:  # never scored on what it chose on
        assert fold.train_end_ns < fold.test_start_ns


def test_folds_when_rolling_then_training_is_the_block_before() -> None:
    folds = folds_of(0, 300 * S, WalkForward(folds=2, mode="rolling"))
    assert [(f.train_start_ns, f.train_end_ns) for f in folds] == [(0, 100 * S), (100 * S, 200 * S)]


def test_folds_when_zero_then_none_and_when_purge_eats_a_block_then_error() -> None:
    assert folds_of(0, 10 * S, WalkForward(folds=0)) == []
    with pytest.raises(InvalidValue, match="purge_s"):
        folds_of(0, 30 * S, WalkForward(folds=2, purge_s=10))
    with pytest.raises(InvalidValue, match="span"):
        folds_of(5, 5, WalkForward(folds=1))
