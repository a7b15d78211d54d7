"""The gateway and spot margin: shorts where the venue lends, and the venue's interest booked.

Where ``RiskLimits.spot_borrow_venues`` names the venue, a spot sell beyond the agent's
holding is an opening short (checked and reserved like one); elsewhere it is denied.
The venue's interest charge (a ``FundingPayment`` on the spot symbol) is booked on the
agents short that symbol, the rest to the house, and the books stay conserved.
"""

from __future__ import annotations

from core.models import Side
from gateway.engine_types import EventOutcome, Send
from gateway.ledger import HOUSE
from risk.checks import DenialReason
from risk.limits import RiskLimits
from tests.unit.gateway.engine_support import (
    SPOT,
    VENUE,
    D,
    apply,
    intent,
    make_engine,
    open_order,
    trade,
)


def test_spot_interest_when_settled_and_no_agent_is_short_then_the_house_books_it() -> None:
    engine, _ = make_engine()
    send = open_order(engine, "b", agent="arb", side=Side.BUY, price="60000")
    apply(engine, engine.on_fill(trade(send, "t1", "0.01")).records)
    decision = engine.on_funding(
        VENUE, SPOT, D("-0.00001"), D(60000), 3_600_000, settled=D("-0.006")
    )
    assert decision.outcome is EventOutcome.RECORD
    apply(engine, decision.records)
    agents = engine.snapshot().agents
    assert agents["arb"].funding == {}  # a long spot holding is not a loan
    assert agents[HOUSE].funding == {"paper:USDT": D("-0.006")}
    assert engine.ledger.conservation_errors() == []


def test_spot_funding_when_not_settled_by_a_venue_then_invalid() -> None:
    engine, _ = make_engine()
    decision = engine.on_funding(VENUE, SPOT, D("-0.00001"), D(60000), 3_600_000)
    assert decision.outcome is EventOutcome.INVALID


def test_spot_sell_beyond_holding_when_the_venue_does_not_lend_then_denied() -> None:
    engine, _ = make_engine()
    decision = engine.submit(intent("s", agent="arb", side=Side.SELL, price="60000"))
    assert not isinstance(decision, Send)
    assert decision.denial.reason is DenialReason.INSUFFICIENT_POSITION  # type: ignore[union-attr]


def test_spot_short_when_the_venue_lends_then_reserved_booked_and_charged_interest() -> None:
    engine, _ = make_engine(limits=RiskLimits(spot_borrow_venues=frozenset({VENUE})))
    free_before = engine.ledger.free("arb")
    send = open_order(engine, "s", agent="arb", side=Side.SELL, price="60000", amount="0.1")
    # An opening order: it reserves its notional (6,000) and the taker fee.
    assert free_before - engine.ledger.free("arb") == D("6006.00000000")
    apply(engine, engine.on_fill(trade(send, "t1", "0.1")).records)
    assert engine.ledger.position("arb", VENUE, SPOT) == D("-0.1")
    # Filled: the short counts at cost (6,000), its proceeds are not free cash.
    assert free_before - engine.ledger.free("arb") == D(6000)
    decision = engine.on_funding(
        VENUE, SPOT, D("-0.00001"), D(60000), 3_600_000, settled=D("-0.06")
    )
    apply(engine, decision.records)
    assert engine.snapshot().agents["arb"].funding == {"paper:USDT": D("-0.06000000")}
    assert engine.ledger.conservation_errors() == []
