"""The operator's pause, resume and flatten on one agent (issue 15 part 3): the core and the log."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.actions import CancelOrder, PlaceOrder
from agents.base import AgentCore, AgentStatus
from agents.controls import control_payload, controls_of, is_control, operator_hold
from core.errors import InvalidValue
from core.models import OrderType, Side
from tests.unit.agents.test_base_paused import PERP, SPOT, T0, Quoter, book, order, resting

D = Decimal


def core_with(positions: dict[tuple[str, str], str]) -> AgentCore[int, int]:
    core = AgentCore(Quoter())
    core.account.positions = {k: D(v) for k, v in positions.items()}
    core.on_events([book(T0)])
    return core


def test_resume_when_council_and_operator_both_paused_then_runs_only_after_both_resume() -> None:
    core = core_with({})
    core.pause("drawdown", by="council")
    core.pause("by hand", by="operator")
    assert core.resume(by="council") is False
    assert core.status is AgentStatus.PAUSED
    assert core.stats()["paused_by"] == {"operator": "by hand"}
    assert "paused by the operator" in (core.idle_reason() or "")
    assert core.resume(by="operator") is True
    assert core.status is AgentStatus.RUNNING
    assert core.stats()["paused_by"] == {}


def test_pause_when_source_unknown_then_value_error_names_it() -> None:
    with pytest.raises(ValueError, match="'someone'"):
        core_with({}).pause("x", by="someone")


def test_on_events_when_operator_paused_and_flat_then_opens_nothing() -> None:
    core = core_with({})
    core.pause("by hand", by="operator")
    assert core.on_events([book(T0 + 60_000_000_000)]) == []


def test_flatten_when_long_perp_short_spot_and_orders_open_then_cancels_and_closes_reduce_only() -> (
    None
):
    core = core_with({PERP: "0.004", SPOT: "-0.5", ("okx", "ETH/USDT:USDT"): "0"})
    core.account.record(resting(order("b1", Side.BUY, "0.01")))
    actions = core.flatten("op1", "risk off")
    assert actions[0] == CancelOrder(intent_id="b1")
    places = [a.intent for a in actions if isinstance(a, PlaceOrder)]
    assert [(i.symbol, i.side, i.amount, i.reduce_only, i.type) for i in places] == [
        ("BTC/USDT", Side.BUY, D("0.5"), False, OrderType.MARKET),
        ("BTC/USDT:USDT", Side.SELL, D("0.004"), True, OrderType.MARKET),
    ]
    assert places[1].intent_id == "flatten.op1.bybit.BTC/USDT:USDT"
    assert core.status is AgentStatus.PAUSED and core.holds["operator"][1] == "risk off"
    # The same control again gives the same intents (the gateway answers them once).
    again = [a.intent for a in core.flatten("op1") if isinstance(a, PlaceOrder)]
    assert [i.intent_id for i in again] == [i.intent_id for i in places]


def test_control_payload_when_fields_bad_then_invalid_value_names_field() -> None:
    good = {"control_id": "op1", "action": "pause", "agent": "mm", "operator": "ops", "reason": ""}
    for field, value in (
        ("action", "explode"),
        ("control_id", "has space"),
        ("agent", ""),
        ("operator", ""),
    ):
        with pytest.raises(InvalidValue) as caught:
            control_payload(**{**good, field: value}, ts_ns=1)  # type: ignore[arg-type]
        assert caught.value.field == field


def test_operator_hold_when_log_mixes_decisions_and_controls_then_last_control_wins() -> None:
    def control(action: str, agent: str, ts: int) -> dict[str, object]:
        return control_payload(
            control_id=f"op{ts}",
            action=action,
            agent=agent,
            operator="ops",
            reason=action,
            ts_ns=ts,
        )

    log = [
        {"ts_ns": 1, "budgets": {}, "votes": []},
        control("pause", "mm", 2),
        control("flatten", "liq", 3),
        control("resume", "mm", 4),
    ]
    assert not is_control(log[0]) and is_control(log[1])
    assert [c["action"] for c in controls_of(log)] == ["pause", "flatten", "resume"]
    assert operator_hold(log, "mm") is None
    assert operator_hold(log[:2], "mm") == "pause"
    assert operator_hold(log, "liq") == "flatten"
    assert operator_hold(log, "other") is None
