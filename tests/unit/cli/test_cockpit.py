"""The cockpit without Ray: events between readings, the state's view, the app behind its token."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cli.cockpit.app import build_app, latest_reports, token_status
from cli.cockpit.controls import ControlFailed
from cli.cockpit.events import Bounds, FeedWatch, Reading, detect
from cli.cockpit.state import CockpitState
from cli.cockpit.views import filter_orders, order_row
from core.models import OrderType, Side, TimeInForce
from gateway.breaker import BreakerState
from gateway.engine_types import EngineSnapshot
from gateway.ledger import AgentView, VenueView
from gateway.orders import OrderState, OrderView

D = Decimal
S = 1_000_000_000
T0 = 1_800_000_000 * S


def agent_view(agent: str, equity: str) -> AgentView:
    return AgentView(
        agent_id=agent,
        budget=D(1000),
        reserved=D(0),
        used=D(0),
        free=D(1000),
        cash={},
        positions=(),
        fees={},
        funding={},
        realized=D(0),
        unrealized=D(0),
        pnl=D(equity) - D(1000),
        equity=D(equity),
    )


def order(cid: str, state: OrderState, created_ns: int = T0, agent: str = "mm") -> OrderView:
    return OrderView(
        client_order_id=cid,
        agent_id=agent,
        intent_id=cid,
        venue="bybit",
        symbol="BTC/USDT:USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D("0.01"),
        price=D(17000),
        time_in_force=TimeInForce.GTC,
        post_only=False,
        reduce_only=False,
        state=state,
        venue_order_id=None,
        filled=D("0.01") if state is OrderState.FILLED else D(0),
        average_price=None,
        fees={},
        trade_ids=(),
        reservation=D(0),
        reservation_left=D(0),
        reason="",
        created_ns=created_ns,
        updated_ns=created_ns,
    )


def snapshot(
    breaker: BreakerState = BreakerState.CLOSED,
    equity: str = "1000",
    orders: tuple[OrderView, ...] = (),
    reconciled: tuple[str, ...] = ("bybit",),
) -> EngineSnapshot:
    return EngineSnapshot(
        ready=True,
        breaker=breaker,
        breaker_since_ns=T0,
        orders=orders,
        tombstones=(),
        agents={"mm": agent_view("mm", equity), "_house": agent_view("_house", "0")},
        venues={"bybit": VenueView(venue="bybit", balances={"USDT": D(5)}, positions={})},
        reconciled_venues=reconciled,
        counters={},
    )


def reading(at_s: float, **fields: Any) -> Reading:
    return Reading(at_ns=T0 + int(at_s * S), **fields)


# -- EVENTS --------------------------------------------------------------------------


def test_detect_when_breaker_trips_and_venue_unreconciled_then_critical_events() -> None:
    before = reading(0, snapshot=snapshot())
    now = reading(1, snapshot=snapshot(BreakerState.DRAINING, reconciled=()))
    kinds = {(e.kind, e.subject, e.level) for e in detect(before, now, Bounds())}
    assert ("breaker", "gateway", "critical") in kinds
    assert ("reconciliation", "bybit", "critical") in kinds


def test_detect_when_gateway_pid_changes_then_recovery_event_with_its_facts() -> None:
    status = {"ready": True, "pid": 1, "started_ns": 1, "stats": {"recovery": {"records": 9}}}
    before = reading(0, snapshot=snapshot(), status=status)
    now = reading(1, snapshot=snapshot(), status={**status, "pid": 2})
    (event,) = [e for e in detect(before, now, Bounds()) if e.kind == "recovery"]
    assert "records 9" in event.message and event.alert


def test_detect_when_unknown_order_passes_bound_then_one_event_only() -> None:
    stuck = order("sw1", OrderState.UNKNOWN, created_ns=T0)
    first = reading(30, snapshot=snapshot(orders=(stuck,)))
    second = reading(61, snapshot=snapshot(orders=(stuck,)))
    third = reading(62, snapshot=snapshot(orders=(stuck,)))
    bounds = Bounds(unknown_order_age_s=60)
    assert [e.kind for e in detect(None, first, bounds)] == []
    assert [e.subject for e in detect(first, second, bounds) if e.kind == "unknown_order"] == [
        "sw1"
    ]
    assert [e for e in detect(second, third, bounds) if e.kind == "unknown_order"] == []


def test_detect_when_feed_stops_moving_then_stale_once_and_live_again() -> None:
    watch = FeedWatch()
    bounds = Bounds(feed_stale_s=10)
    progress = {"events": 5, "feed": {"gaps": 0}, "done": False}
    kinds = []
    last = None
    for at, events, gaps in ((0, 5, 0), (5, 5, 0), (11, 5, 0), (12, 5, 1), (13, 6, 1)):
        now = reading(at, progress={**progress, "events": events, "feed": {"gaps": gaps}})
        kinds += [e.kind for e in detect(last, now, bounds, watch)]
        last = now
    assert kinds == ["feed_stale", "feed_gap", "feed_live"]


def test_detect_when_agent_paused_errs_and_is_denied_then_events_name_it() -> None:
    before = reading(0, agents={"mm": {"status": "running", "errors": 0, "denied": 0}})
    now = reading(
        1,
        agents={
            "mm": {
                "status": "paused",
                "paused_by": {"operator": "by hand"},
                "errors": 1,
                "last_error": "boom",
                "denied": 2,
                "last_denial": "budget",
            }
        },
    )
    events = {e.kind: e.message for e in detect(before, now, Bounds())}
    assert events == {
        "agent_paused": "mm paused (operator: by hand)",
        "agent_error": "mm: 1 error(s), last: boom",
        "denial": "mm denied: budget",
    }


# -- STATE -------------------------------------------------------------------------


def test_state_when_readings_then_equity_series_drawdown_heartbeats_and_filters() -> None:
    seen: list[str] = []
    state = CockpitState(on_events=lambda events: seen.extend(e.kind for e in events))
    orders = (order("sw1", OrderState.UNKNOWN), order("sw2", OrderState.FILLED, T0 + S))
    state.update(reading(0, snapshot=snapshot(equity="1100"), agents={"mm": {"status": "running"}}))
    state.update(
        reading(1, snapshot=snapshot(BreakerState.OPEN, "1050", orders), errors={"council": "dead"})
    )
    view = state.view(unknown_only=True)
    assert view["equity"]["total"] == [1100.0, 1050.0]
    assert view["equity"]["agents"] == {"mm": [1100.0, 1050.0]}
    (mm,) = view["agents"]
    assert mm["drawdown"] == "50" and mm["status"] == "running"
    assert [o["client_order_id"] for o in view["orders"]] == ["sw1"]
    assert view["unknown_orders"] == 1
    assert view["heartbeats"]["council"]["error"] == "dead"
    assert view["heartbeats"]["gateway"]["error"] is None
    assert [e["message"] for e in view["breaker_history"]] == ["breaker closed -> open"]
    assert "breaker" in seen and "actor_down" in seen
    assert view["venues"] == [
        {"venue": "bybit", "reconciled": True, "balances": {"USDT": "5"}, "positions": {}}
    ]


def test_filter_orders_when_agent_and_filled_then_newest_first_and_limited() -> None:
    rows = [
        order_row(order(f"sw{i}", OrderState.FILLED, T0 + i, "mm" if i % 2 else "fa"), T0)
        for i in range(6)
    ]
    found = filter_orders(rows, agent="mm", filled_only=True, limit=2)
    assert [r["client_order_id"] for r in found] == ["sw5", "sw3"]


# -- THE APP BEHIND ITS TOKEN ----------------------------------------------------------


def test_token_status_when_none_wrong_right_then_401_403_200() -> None:
    assert [token_status(g, "secret") for g in (None, "", "secreT", "secret")] == [
        401,
        401,
        403,
        200,
    ]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, list[Any]]]:
    import uvicorn

    calls: list[Any] = []

    def control(action: str, agent: str | None, reason: str) -> dict[str, Any]:
        calls.append((action, agent, reason))
        if action == "reset":
            raise ControlFailed("reset: the breaker is closed")
        return {"action": action, "agent": agent, "status": "paused"}

    (tmp_path / "backtest-20260101T000000Z.html").write_text("<p>backtest</p>")
    state = CockpitState()
    state.update(reading(0, snapshot=snapshot()))
    app = build_app(state, "tok", control, state_dir=tmp_path)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", calls
    server.should_exit = True
    thread.join(timeout=10)


def call(url: str, *, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode()
            kind = answer.headers.get("content-type", "")
            return answer.status, json.loads(text) if "json" in kind else text
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode())


def test_app_when_token_missing_or_wrong_then_401_403_everywhere(served: Any) -> None:
    base, calls = served
    for path in ("/", "/api/state", "/static/cockpit.js", "/reports/backtest"):
        assert call(base + path)[0] == 401
        assert call(base + path + "?token=nope")[0] == 403
    assert call(base + "/api/control?token=nope", body={"action": "kill"})[0] == 403
    assert calls == []


def test_app_when_token_right_then_page_state_static_and_report(served: Any) -> None:
    base, _ = served
    code, page = call(base + "/?token=tok")
    assert code == 200 and "Swarm cockpit" in page and "uPlot.iife.min.js" in page
    code, state = call(base + "/api/state", headers={"X-Swarm-Token": "tok"})
    assert code == 200 and state["agents"][0]["agent"] == "mm" and state["reports"] == ["backtest"]
    assert call(base + "/static/vendor/uPlot.iife.min.js?token=tok")[0] == 200
    assert call(base + "/static/../app.py?token=tok")[0] == 404
    assert call(base + "/reports/backtest?token=tok") == (200, "<p>backtest</p>")
    assert call(base + "/reports/sweep?token=tok")[0] == 404


def test_app_when_control_then_needs_header_and_failure_says_why(served: Any) -> None:
    base, calls = served
    body = {"action": "pause", "agent": "mm", "reason": "why"}
    assert call(base + "/api/control?token=tok", body=body)[0] == 403  # no header: no control
    code, done = call(base + "/api/control", body=body, headers={"X-Swarm-Token": "tok"})
    assert (code, done["status"]) == (200, "paused")
    code, failed = call(
        base + "/api/control", body={"action": "reset"}, headers={"X-Swarm-Token": "tok"}
    )
    assert (code, failed) == (409, {"error": "reset: the breaker is closed"})
    assert calls == [("pause", "mm", "why"), ("reset", None, "")]


def test_latest_reports_when_several_backtests_then_newest_and_sweep(tmp_path: Path) -> None:
    old, new = tmp_path / "backtest-1.html", tmp_path / "backtest-2.html"
    old.write_text("a")
    new.write_text("b")
    import os

    os.utime(old, (1, 1))
    (tmp_path / "sweep.html").write_text("c")
    assert latest_reports(tmp_path) == {"backtest": new, "sweep": tmp_path / "sweep.html"}
    assert latest_reports(None) == {}
