from __future__ import annotations

import math
from decimal import Decimal

import pytest
from pydantic import ValidationError
from scipy import stats

from allocator.empirical import AllocatorConfig
from core.errors import InvalidValue
from council.core import CouncilConfig, CouncilCore
from council.variants import PromotionConfig, VariantConfig, promotion_test

D = Decimal
H = 3_600 * 1_000_000_000
CFG = PromotionConfig(min_periods=5, alpha=0.05)


def test_promotion_test_when_variant_better_every_period_then_promoted_with_scipy_figures() -> None:
    incumbent = [0.001, -0.002, 0.0005, 0.001, -0.001, 0.002]
    variant = [
        r + d for r, d in zip(incumbent, [0.002, 0.001, 0.003, 0.002, 0.001, 0.002], strict=True)
    ]
    verdict = promotion_test(incumbent, variant, CFG)
    expected = stats.ttest_rel(variant, incumbent, alternative="greater")
    assert verdict.promote and verdict.periods == 6
    assert math.isclose(verdict.t_stat, float(expected.statistic), rel_tol=1e-9)
    assert math.isclose(verdict.p_value, float(expected.pvalue), rel_tol=1e-9)


def test_promotion_test_when_variant_worse_or_noisy_then_not_promoted() -> None:
    incumbent = [0.001] * 8
    assert not promotion_test(incumbent, [0.0005, 0.0007, 0.0, 0.0008] * 2, CFG).promote
    noisy = [0.001 + (0.01 if i % 2 else -0.0099) for i in range(8)]
    verdict = promotion_test(incumbent, noisy, CFG)
    assert not verdict.promote and verdict.p_value > CFG.alpha


def test_promotion_test_when_too_short_or_flat_difference_then_no_evidence() -> None:
    assert promotion_test([0.1, 0.2], [0.3, 0.4], CFG).reason == "2 periods < 5"
    same = [0.001, 0.002, 0.003, 0.004, 0.005]
    shifted = [r + 0.001 for r in same]
    verdict = promotion_test(same, shifted, CFG)
    assert not verdict.promote and verdict.reason == "no variation: no evidence"


def test_promotion_test_when_nan_periods_then_dropped() -> None:
    incumbent = [math.nan, 0.001, -0.002, 0.0005, 0.001, -0.001, 0.002]
    variant = [0.5, 0.003, -0.001, 0.0035, 0.003, 0.0, 0.004]
    assert promotion_test(incumbent, variant, CFG).periods == 6


def test_variant_config_when_bad_name_then_validation_error() -> None:
    with pytest.raises(ValidationError):
        VariantConfig(name="a b", of="mm")
    assert VariantConfig(name="g05", of="mm").agent_id == "mm--g05"


def council(**overrides: object) -> CouncilCore:
    fields: dict[str, object] = {
        "capital": D(90_000),
        "period_ns": H,
        "edge_window": 100,
        "allocator": AllocatorConfig(min_history=100),
        "variants": (VariantConfig(name="v", of="a", config={"gamma": 0.5}),),
        "promotion": PromotionConfig(min_periods=5, alpha=0.05),
    }
    fields.update(overrides)
    return CouncilCore(CouncilConfig(**fields), ("a", "b"))  # type: ignore[arg-type]


BUDGETS = {"a": D(30_000), "b": D(30_000)}


def test_council_when_shadow_earns_more_with_significance_then_promoted_and_swapped() -> None:
    core = council()
    promotions = []
    for t in range(12):
        incumbent = D(10) * t + (D(5) if t % 2 else D(0))
        shadow = D(25) * t + (D(3) if t % 3 else D(0))
        decision = core.on_time(t * H, {"a": incumbent, "b": D(0)}, BUDGETS, {"a--v": shadow})
        if decision is not None and decision.promotions:
            promotions.extend(decision.promotions)
            break
    assert len(promotions) == 1
    [promotion] = promotions
    assert (promotion["variant"], promotion["incumbent"], promotion["promote"]) == (
        "a--v",
        "a",
        "true",
    )
    assert float(promotion["p_value"]) < 0.05
    assert core.live_settings("a") == {"gamma": 0.5}  # the incumbent runs the variant's settings
    assert core.shadow_settings("a--v") == ("a", {})  # the demoted settings are scored in shadow
    rebuilt = CouncilCore.from_log(
        core.config, core.agents, [d.log_payload() for d in core.history]
    )
    assert rebuilt.swapped == core.swapped and rebuilt.scored_from == core.scored_from


def test_council_when_shadow_no_better_then_never_promoted() -> None:
    core = council()
    for t in range(20):
        pnl = D(10) * t + (D(7) if t % 2 else D(0))
        decision = core.on_time(t * H, {"a": pnl, "b": D(0)}, BUDGETS, {"a--v": pnl - D(t % 3)})
        assert decision is None or not decision.promotions
    assert core.live_settings("a") == {}


def test_council_when_variant_of_unknown_agent_then_invalid_value() -> None:
    with pytest.raises(InvalidValue, match=r"variants\.v\.of"):
        council(variants=(VariantConfig(name="v", of="zz"),))
