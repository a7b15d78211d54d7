"""The gateway engine books a venue's spot-margin interest (a FundingPayment on a spot symbol).

The gateway's pre-trade check still refuses a spot sell beyond what the agent holds
(``risk.checks._split_opening``), so no agent is short spot through it yet; a charge the
venue settles is then booked to the house, and the books stay conserved.
"""

from __future__ import annotations

from core.models import Side
from gateway.engine_types import EventOutcome
from gateway.ledger import HOUSE
from tests.unit.gateway.engine_support import SPOT, VENUE, D, apply, make_engine, open_order, trade


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
