"""The audit projection, pure: each record type's rows, idempotency by sequence, an order's life."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from core.models import OrderStatus, OrderType, Side, TakerOrMaker, TimeInForce
from gateway.audit_projection import TABLES, AuditProjector, AuditValueError, payload_json
from gateway.breaker import BreakerState, BreakerTransition, Trigger, TripReason
from gateway.engine_records import (
    BudgetPayload,
    CancelKind,
    CancelPayload,
    CorrectionEntry,
    FillPayload,
    FundingPayload,
    IntentPayload,
    OrderStatusPayload,
    ReconciliationPayload,
    ResultOutcome,
    ResultPayload,
    StatusSource,
    WalRecord,
)
from gateway.ledger import HOUSE
from gateway.wal_format import RecordType, decode_payload, encode_payload

D = Decimal
SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
CID = "mm0001"


def intent(cid: str = CID, *, symbol: str = SPOT, side: Side = Side.BUY, at: int = 1) -> WalRecord:
    return IntentPayload(
        client_order_id=cid,
        agent_id="mm",
        intent_id=f"i-{cid}",
        venue="paper",
        symbol=symbol,
        side=side,
        type=OrderType.LIMIT,
        amount=D("0.02"),
        price=D("60000"),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        reduce_only=False,
        fingerprint=f"fp-{cid}",
        reservation=D("1200.00"),
        reference_price=D("60000"),
        probe=False,
        at_ns=at,
    ).to_record()


def accepted(cid: str = CID, status: OrderStatus = OrderStatus.OPEN, at: int = 2) -> WalRecord:
    return ResultPayload(
        client_order_id=cid,
        outcome=ResultOutcome.ACCEPTED,
        venue_order_id="v1",
        status=status,
        filled=D(0),
        at_ns=at,
    ).to_record()


def fill(
    trade_id: str,
    amount: str,
    *,
    cid: str | None = CID,
    agent: str = "mm",
    symbol: str = SPOT,
    side: Side = Side.BUY,
    price: str = "60000",
    fee: str = "0.06",
    at: int = 3,
) -> WalRecord:
    return FillPayload(
        client_order_id=cid,
        agent_id=agent,
        venue="paper",
        symbol=symbol,
        trade_id=trade_id,
        venue_order_id="v1",
        side=side,
        price=D(price),
        amount=D(amount),
        fee_cost=D(fee),
        fee_currency="USDT",
        taker_or_maker=TakerOrMaker.MAKER,
        timestamp=1_700_000_000_000,
        at_ns=at,
    ).to_record()


def cancel(kind: CancelKind = CancelKind.REQUESTED, cid: str = CID, at: int = 4) -> WalRecord:
    return CancelPayload(
        client_order_id=cid, agent_id="mm", intent_id=f"i-{cid}", kind=kind, at_ns=at
    ).to_record()


def status(
    state: OrderStatus | None,
    *,
    source: StatusSource = StatusSource.QUERY,
    final: bool = False,
    at: int = 5,
) -> WalRecord:
    return OrderStatusPayload(
        client_order_id=CID,
        source=source,
        status=state,
        venue_order_id="v1" if state is not None else None,
        filled=None,
        final=final,
        reason="never reached the venue" if final else "",
        at_ns=at,
    ).to_record()


def project(*records: WalRecord, projector: AuditProjector | None = None) -> dict[str, Any]:
    """Fold ``records`` from sequence 1 (or after ``projector``'s last) and return rows as dicts."""
    projector = projector or AuditProjector()
    projector.fold_many(projector.last_seq + 1, records)
    taken = projector.take()
    return {name: taken.as_dicts(name) for name in TABLES}


def only_order(rows: dict[str, Any]) -> dict[str, Any]:
    assert len(rows["orders"]) == 1, rows["orders"]
    order: dict[str, Any] = rows["orders"][0]
    return order


def replayed(record: WalRecord) -> WalRecord:
    """Return ``record`` as the WAL gives it back: strings for enums, lists for tuples."""
    return record[0], decode_payload(encode_payload(record[1]))


# -- ORDERS -------------------------------------------------------------------


def test_intent_when_folded_then_pending_order_and_wal_record() -> None:
    rows = project(intent())
    order = only_order(rows)
    assert order["state"] == "pending"
    assert order["amount"] == D("0.02") and order["price"] == D("60000")
    assert order["filled"] == 0 and order["avg_price"] is None and order["fees"] == "{}"
    assert (order["intent_seq"], order["last_seq"]) == (1, 1)
    assert rows["wal_records"] == [
        {
            "seq": 1,
            "type": "INTENT",
            "at_ns": 1,
            "payload": payload_json(intent()[1]),
            "note": None,
        }
    ]
    assert orjson.loads(rows["wal_records"][0]["payload"])["amount"] == "0.02"


def test_order_when_accepted_partly_then_fully_filled_then_row_follows_each_step() -> None:
    projector = AuditProjector()
    assert only_order(project(intent(), projector=projector))["state"] == "pending"

    order = only_order(project(accepted(), projector=projector))
    assert (order["state"], order["venue_order_id"], order["venue_known"]) == ("open", "v1", True)

    rows = project(fill("t1", "0.005", price="59990"), projector=projector)
    order = only_order(rows)
    assert order["state"] == "partially_filled"
    assert (order["filled"], order["cost"], order["trades"]) == (D("0.005"), D("299.95"), 1)
    assert order["avg_price"] == D("59990")
    assert orjson.loads(order["fees"]) == {"USDT": "0.06"}

    order = only_order(project(fill("t2", "0.015", price="60010", fee="0.18"), projector=projector))
    assert order["state"] == "filled"
    assert order["filled"] == D("0.020")
    assert order["cost"] == D("299.95") + D("900.15")
    assert order["avg_price"] == D("60005")
    assert orjson.loads(order["fees"]) == {"USDT": "0.24"}
    assert (order["trades"], order["updated_ns"], order["last_seq"]) == (2, 3, 4)


def test_order_when_canceled_then_late_fill_applies_and_state_stays_canceled() -> None:
    projector = AuditProjector()
    project(intent(), accepted(), cancel(), projector=projector)
    order = only_order(project(status(OrderStatus.CANCELED), projector=projector))
    assert order["state"] == "canceled"
    rows = project(fill("t9", "0.01"), projector=projector)
    order = only_order(rows)
    assert (order["state"], order["filled"]) == ("canceled", D("0.01"))
    assert rows["wal_records"][0]["note"] == "fill after a terminal state"
    assert len(rows["fills"]) == 1  # the money moved all the same


def test_result_unknown_then_not_found_final_then_rejected_with_reason() -> None:
    unknown = ResultPayload(
        client_order_id=CID, outcome=ResultOutcome.UNKNOWN, reason="RequestTimeout", at_ns=2
    ).to_record()
    projector = AuditProjector()
    order = only_order(project(intent(), unknown, projector=projector))
    assert (order["state"], order["reason"]) == ("unknown", "RequestTimeout")
    order = only_order(
        project(status(None, source=StatusSource.NOT_FOUND, final=True), projector=projector)
    )
    assert (order["state"], order["reason"]) == ("rejected", "never reached the venue")


def test_status_when_it_would_move_the_order_backwards_then_skipped_with_a_note() -> None:
    rows = project(intent(), accepted(status=OrderStatus.CLOSED), status(OrderStatus.OPEN))
    assert only_order(rows)["state"] == "filled"
    assert rows["wal_records"][2]["note"].startswith("skipped: the venue says open")


def test_tombstone_when_before_its_intent_then_row_and_intent_is_rejected() -> None:
    rows = project(cancel(CancelKind.TOMBSTONE), intent())
    assert rows["tombstones"] == [
        {"client_order_id": CID, "agent_id": "mm", "intent_id": f"i-{CID}", "at_ns": 4, "seq": 1}
    ]
    order = only_order(rows)
    assert (order["state"], order["reason"]) == ("rejected", "canceled before submit")


def test_records_when_about_an_unknown_order_then_kept_with_a_note_and_no_order_row() -> None:
    rows = project(accepted(), cancel(), status(OrderStatus.OPEN))
    assert rows["orders"] == []
    assert [r["note"] for r in rows["wal_records"]] == ["unknown order"] * 3


# -- MONEY --------------------------------------------------------------------


def test_fill_when_spot_buy_then_fill_row_and_cash_legs_and_fee_in_ledger() -> None:
    rows = project(intent(), fill("t1", "0.01", price="60000.5"))
    [row] = rows["fills"]
    assert (row["venue"], row["trade_id"], row["seq"]) == ("paper", "t1", 2)
    assert (row["side"], row["price"], row["amount"]) == ("buy", D("60000.5"), D("0.01"))
    assert (row["fee_cost"], row["taker_or_maker"]) == (D("0.06"), "maker")
    legs = [(r["line"], r["asset"], r["amount"], r["kind"]) for r in rows["ledger"]]
    assert legs == [
        (0, "USDT", D("-600.005"), "trade"),
        (1, "BTC", D("0.01"), "trade"),
        (2, "USDT", D("-0.06"), "fee"),
    ]
    assert {r["agent_id"] for r in rows["ledger"]} == {"mm"}


def test_fill_when_spot_sell_then_cash_in_and_base_out() -> None:
    rows = project(intent(side=Side.SELL), fill("t1", "0.01", side=Side.SELL, fee="0"))
    assert [(r["asset"], r["amount"]) for r in rows["ledger"]] == [
        ("USDT", D("600.00")),
        ("BTC", D("-0.01")),
    ]


def test_fill_when_perpetual_then_only_the_fee_moves_cash() -> None:
    rows = project(intent(symbol=PERP), fill("t1", "0.01", symbol=PERP, fee="0.3"))
    assert [(r["asset"], r["amount"], r["kind"]) for r in rows["ledger"]] == [
        ("USDT", D("-0.3"), "fee")
    ]


def test_fill_when_same_trade_id_again_then_nothing_but_a_note() -> None:
    rows = project(intent(), fill("t1", "0.01"), fill("t1", "0.01"))
    assert len(rows["fills"]) == 1 and len(rows["ledger"]) == 3
    assert only_order(rows)["filled"] == D("0.01")
    assert rows["wal_records"][2]["note"] == "duplicate trade"


def test_fill_when_no_order_then_booked_to_the_house_without_an_order_row() -> None:
    rows = project(fill("x1", "0.01", cid=None, agent=HOUSE, fee="0"))
    assert rows["orders"] == []
    assert [r["agent_id"] for r in rows["ledger"]] == [HOUSE, HOUSE]
    assert rows["wal_records"][0]["note"] is None


def test_budget_when_folded_then_one_row_per_agent_sorted() -> None:
    record = BudgetPayload(budgets={"mm": D("500"), "arb": D("1000.5")}, at_ns=7).to_record()
    assert project(record)["budgets"] == [
        {"seq": 1, "agent_id": "arb", "at_ns": 7, "amount": D("1000.5")},
        {"seq": 1, "agent_id": "mm", "at_ns": 7, "amount": D("500")},
    ]


def test_funding_when_folded_then_agent_payments_and_the_house_rounding() -> None:
    record = FundingPayload(
        venue="paper",
        symbol=PERP,
        asset="USDT",
        rate=D("0.0001"),
        mark_price=D("60000"),
        funding_timestamp=1_700_000_000_000,
        payments={"mm": D("-0.06"), "arb": D("0.03")},
        total=D("-0.04"),
        at_ns=9,
    ).to_record()
    rows = project(record)
    assert [(r["agent_id"], r["amount"], r["kind"]) for r in rows["ledger"]] == [
        ("arb", D("0.03"), "funding"),
        ("mm", D("-0.06"), "funding"),
        (HOUSE, D("-0.01"), "funding"),
    ]
    assert rows["ledger"][0]["ref"] == f"{PERP}@1700000000000"
    assert rows["reconciliations"] == []


def test_reconciliation_when_folded_then_row_with_corrections_as_json() -> None:
    record = ReconciliationPayload(
        venue="paper",
        verdict="corrected",
        adopted=True,
        corrections=(CorrectionEntry(kind="balance", key="USDT", delta=D("1.50")),),
        mismatches=("position X: missing",),
        at_ns=11,
    ).to_record()
    [row] = project(record)["reconciliations"]
    assert (row["venue"], row["verdict"], row["adopted"]) == ("paper", "corrected", True)
    assert orjson.loads(row["corrections"]) == [
        {"delta": "1.5", "key": "USDT", "kind": "balance", "price": None}
    ]
    assert orjson.loads(row["mismatches"]) == ["position X: missing"]


def test_breaker_when_transition_then_history_row_and_malformed_one_is_only_noted() -> None:
    transition = BreakerTransition(
        from_state=BreakerState.CLOSED,
        to_state=BreakerState.DRAINING,
        trigger=Trigger.TRIP,
        reason=TripReason.MANUAL_KILL,
        detail="ops",
        at_ns=12,
        actor="alice",
    )
    bad: WalRecord = (RecordType.BREAKER, {"from_state": "closed", "to_state": "sideways"})
    rows = project((RecordType.BREAKER, transition.to_payload()), bad)
    assert rows["breaker_history"] == [
        {
            "seq": 1,
            "at_ns": 12,
            "from_state": "closed",
            "to_state": "draining",
            "trigger": "trip",
            "reason": "manual_kill",
            "detail": "ops",
            "actor": "alice",
        }
    ]
    assert rows["wal_records"][1]["note"].startswith("malformed")


def test_money_when_it_does_not_fit_decimal_38_18_then_audit_value_error() -> None:
    too_fine = BudgetPayload(budgets={"mm": D("1E-19")}, at_ns=1).to_record()
    with pytest.raises(
        AuditValueError, match=r"record 1 \(BUDGET\): budget of mm: 1E-19 does not fit"
    ):
        project(too_fine)
    too_big = BudgetPayload(budgets={"mm": D("1E+20")}, at_ns=1).to_record()
    with pytest.raises(AuditValueError, match="does not fit"):
        project(too_big)


# -- IDEMPOTENCY, REPLAY, RESTART ---------------------------------------------

LIFE: tuple[WalRecord, ...] = (
    BudgetPayload(budgets={"mm": D("5000")}, at_ns=0).to_record(),
    intent(),
    accepted(),
    fill("t1", "0.005"),
    cancel(),
    fill("t2", "0.015"),
    status(OrderStatus.CLOSED),
    intent("mm0002", side=Side.SELL),
    cancel(cid="mm0002"),
)


def test_fold_when_sequence_already_folded_then_skipped_and_no_rows() -> None:
    projector = AuditProjector()
    assert projector.fold_many(1, LIFE) == len(LIFE)
    projector.take()
    assert projector.fold_many(1, LIFE) == 0
    assert projector.fold_many(5, LIFE[4:]) == 0
    assert projector.take().count() == 0
    assert projector.last_seq == len(LIFE)


def test_fold_when_sequence_skips_then_value_error() -> None:
    projector = AuditProjector()
    projector.fold(1, *LIFE[0])
    with pytest.raises(ValueError, match="expected 2, got 3"):
        projector.fold(3, *LIFE[2])


def test_fold_when_records_replayed_from_disk_then_same_rows_as_live() -> None:
    live = project(*LIFE)
    from_disk = project(*(replayed(r) for r in LIFE))
    assert from_disk == live
    assert only_order({"orders": live["orders"][:1]})["state"] == "filled"


def test_fold_when_redelivered_overlapping_batches_then_same_rows_as_once() -> None:
    once = AuditProjector()
    once.fold_many(1, LIFE)
    twice = AuditProjector()
    twice.fold_many(1, LIFE[:6])
    twice.fold_many(3, LIFE[2:])  # overlaps 3..6, then continues
    twice.fold_many(1, LIFE)
    assert twice.take().rows == once.take().rows


def as_stored(value: Any) -> Any:
    """Return ``value`` as duckdb hands a DECIMAL(38,18) back: same value, scale 18."""
    return value.quantize(D("1E-18")) if isinstance(value, Decimal) else value


def test_projector_when_restarted_from_stored_rows_then_continues_to_the_same_rows() -> None:
    whole = AuditProjector()
    whole.fold_many(1, LIFE)
    expected = whole.take()

    first = AuditProjector()
    first.fold_many(1, LIFE[:4])
    stored = {r["client_order_id"]: r for r in first.take().as_dicts("orders")}
    second = AuditProjector(last_seq=4)
    wanted = second.wanted((seq, *r) for seq, r in enumerate(LIFE, start=1))
    assert wanted.client_order_ids == {CID, "mm0002"}
    assert wanted.trades == {("paper", "t2")}  # t1 is at seq 4: folded already
    found = [{k: as_stored(v) for k, v in stored[cid].items()} for cid in stored]
    second.prime(wanted, orders=found)
    assert not second.wanted((seq, *r) for seq, r in enumerate(LIFE, start=1))
    second.fold_many(5, LIFE[4:])
    resumed = second.take()

    for table in ("fills", "ledger", "budgets", "tombstones", "wal_records"):
        later = [r for r in expected.as_dicts(table) if r["seq"] > 4]
        assert resumed.as_dicts(table) == later
    assert len(resumed.rows["fills"]) == 1 and len(resumed.rows["wal_records"]) == 5
    assert resumed.as_dicts("orders") == expected.as_dicts("orders")


def test_forget_settled_when_rows_not_taken_then_refused_else_keeps_live_orders() -> None:
    projector = AuditProjector()
    projector.fold_many(1, LIFE)
    with pytest.raises(ValueError, match="take"):
        projector.forget_settled()
    projector.take()
    projector.forget_settled()
    after = [(RecordType.CANCEL, cancel(cid="mm0002")[1])]
    wanted = projector.wanted([(len(LIFE) + 1, *after[0])])
    assert not wanted  # mm0002 is live (cancel pending): still cached
    wanted = projector.wanted([(len(LIFE) + 1, *fill("t3", "0.001"))])
    assert wanted.client_order_ids == {CID} and wanted.trades == {("paper", "t3")}
