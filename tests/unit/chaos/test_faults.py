"""The venue fault core: off means nothing, each fault does what its name says, a seed replays."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from chaos.faults import FaultSpec, VenueFaults, Verdict
from core.clock import NS_PER_S, SimulatedClock
from core.errors import ExchangeUnavailable, InvalidOrder, RequestTimeout


def faults(**rates: float) -> VenueFaults:
    return VenueFaults(FaultSpec(seed=3, **rates), SimulatedClock(10 * NS_PER_S), "bybit")


def test_spec_when_default_then_inactive_and_every_call_proceeds() -> None:
    core = faults()
    assert not FaultSpec().active
    for method in ("create_order", "cancel_order", "fetch_order", "fetch_my_trades"):
        decision = core.decide(method, "swX")
        assert decision.verdict is Verdict.PROCEED and decision.delay_s == 0 and not decision.hide


def test_spec_when_rate_out_of_range_then_validation_error_names_field() -> None:
    with pytest.raises(ValidationError, match="lost_ack"):
        FaultSpec(lost_ack=1.5)
    with pytest.raises(ValidationError, match="typo"):
        FaultSpec.model_validate({"typo": 1})


def test_create_when_lost_ack_then_placed_and_answer_is_timeout_with_cid() -> None:
    decision = faults(lost_ack=1.0).decide("create_order", "swA")
    assert decision.verdict is Verdict.LOSE_ANSWER
    assert isinstance(decision.error, RequestTimeout) and decision.error.client_order_id == "swA"


def test_create_when_timeout_then_nothing_placed_and_unknown_outcome() -> None:
    decision = faults(timeout=1.0).decide("create_order", "swA")
    assert decision.verdict is Verdict.FAIL and isinstance(decision.error, RequestTimeout)


def test_create_when_reject_then_denied_error() -> None:
    decision = faults(reject=1.0).decide("create_order", "swA")
    assert decision.verdict is Verdict.FAIL and isinstance(decision.error, InvalidOrder)


def test_read_when_server_error_then_exchange_unavailable() -> None:
    decision = faults(server_error=1.0).decide("fetch_my_trades")
    assert decision.verdict is Verdict.FAIL and isinstance(decision.error, ExchangeUnavailable)


def test_create_when_not_found_then_next_lookups_hidden_then_visible() -> None:
    core = faults(not_found=1.0)
    decision = core.decide("create_order", "swA")
    assert decision.hide and decision.verdict is Verdict.PROCEED
    core.hide("swA")
    assert core.hidden() == {"swA"}
    assert core.hides("swA") and core.hides("swA")  # not_found_queries = 2
    assert not core.hides("swA") and core.hidden() == frozenset()
    assert not core.hides("swB")


def test_outage_when_set_then_every_faulted_call_fails_until_it_ends() -> None:
    clock = SimulatedClock(10 * NS_PER_S)
    core = VenueFaults(FaultSpec(outage_s=1.5), clock, "bybit")
    assert core.decide("create_order", "swA").verdict is Verdict.FAIL
    assert core.decide("fetch_order", "swA").verdict is Verdict.FAIL
    assert core.decide("fetch_balance").verdict is Verdict.PROCEED  # account reads exempt
    clock.advance(int(1.5 * NS_PER_S))
    assert core.decide("create_order", "swA").verdict is Verdict.PROCEED
    assert core.counts["outage"] == 2


def test_account_reads_when_enabled_then_faulted() -> None:
    core = VenueFaults(FaultSpec(outage_s=1, account_reads=True), SimulatedClock(0), "okx")
    assert core.decide("fetch_balance").verdict is Verdict.FAIL


def test_latency_when_set_then_delay_within_latency_plus_jitter() -> None:
    core = faults(latency_ms=2.0, jitter_ms=3.0)
    delays = [core.decide("fetch_order", "swA").delay_s for _ in range(200)]
    assert all(Decimal("0.002") <= Decimal(str(d)) <= Decimal("0.005") for d in delays)
    assert len(set(delays)) > 100
    assert core.decide("fetch_ticker").delay_s == 0  # market data never faulted


def test_decisions_when_same_seed_then_same_sequence() -> None:
    def run() -> list[tuple[str, bool]]:
        core = faults(timeout=0.2, server_error=0.2, lost_ack=0.2, not_found=0.2, reject=0.2)
        return [
            (str(d.verdict), d.hide)
            for d in (core.decide("create_order", f"sw{i}") for i in range(300))
        ]

    first = run()
    assert first == run()
    assert {v for v, _ in first} == {"proceed", "fail", "lose_answer"}
