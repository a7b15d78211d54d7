"""cli.metrics without Ray: readings from status and agent views, the plain endpoint, failed polls."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.metrics import MetricsExporter, Reading, read_agents, read_feed, read_gateway
from core.config import MetricsConfig
from core.errors import ConfigError
from core.metrics import OrderMetrics


@dataclass
class View:
    budget: Decimal
    free: Decimal
    pnl: Decimal
    realized: Decimal
    unrealized: Decimal
    equity: Decimal


def view(budget: int, pnl: str = "0") -> View:
    p = Decimal(pnl)
    return View(Decimal(budget), Decimal(budget), p, p, Decimal(0), Decimal(budget) + p)


def status(
    orders: OrderMetrics | dict[str, Any] | None = None, breaker: str = "closed"
) -> dict[str, Any]:
    return {
        "ready": True,
        "breaker": breaker,
        "state_dir": "/var/run-1",
        "wal_committed_seq": 42,
        "stats": {"orders": orders if orders is not None else OrderMetrics()},
    }


def test_read_gateway_when_metrics_object_or_dict_then_same_counts() -> None:
    m = OrderMetrics(submitted=7, accepted=4, rejected=1, unknown=1, sent=6, fills=3)
    m.deny("off_tick")
    m.submit_latency.observe(1_500_000)
    for orders in (m, m.as_dict()):
        r = read_gateway(status(orders), {}, ())
        assert r.value("swarm_orders_submitted") == 7
        assert r.value("swarm_orders_accepted") == 4
        assert r.value("swarm_orders_denied", reason="off_tick") == 1
        assert r.value("swarm_fills") == 3
        assert r.value("swarm_wal_committed_seq") == 42
        assert r.run == "/var/run-1"
        submit = next(h for h in r.histograms if h.name == "swarm_submit_latency_seconds")
        assert sum(submit.counts) == 1 and submit.sum_s == pytest.approx(0.0015)


def test_read_gateway_when_breaker_open_then_only_open_series_is_one() -> None:
    r = read_gateway(status(breaker="open"), {}, ())
    states = {s.labels[0][1]: s.value for s in r.samples if s.name == "swarm_breaker_state"}
    assert states == {"closed": 0.0, "draining": 0.0, "open": 1.0, "half_open": 0.0}


def test_read_gateway_when_stats_hold_something_else_then_config_error() -> None:
    with pytest.raises(ConfigError, match=r"stats\.orders"):
        read_gateway(status(orders=object()), {}, ())  # type: ignore[arg-type]


def test_read_agents_when_ids_given_then_only_those_with_weights_of_their_budgets() -> None:
    agents = {"mm": view(30_000, "12.5"), "arb": view(10_000), "_house": view(60_000)}
    r = read_agents(agents, ["mm", "arb"])
    assert r.value("swarm_agent_weight", agent="mm") == 0.75
    assert r.value("swarm_agent_weight", agent="arb") == 0.25
    assert r.value("swarm_agent_equity", agent="mm") == 30_012.5
    assert r.value("swarm_agent_budget", agent="_house") is None


def test_read_agents_when_no_ids_then_all_but_internal_and_zero_budgets_weigh_zero() -> None:
    r = read_agents({"mm": view(0), "_house": view(5)}, [])
    assert r.value("swarm_agent_weight", agent="mm") == 0
    assert r.value("swarm_agent_budget", agent="_house") is None


def test_read_feed_when_market_time_known_then_lag_is_wall_minus_market() -> None:
    r = read_feed({"events": 100, "market_time_ns": 1_000_000_000}, now_ns=3_500_000_000)
    assert r.value("swarm_feed_events") == 100
    assert r.value("swarm_feed_lag_seconds") == 2.5
    assert (
        read_feed({"events": 0, "market_time_ns": None}, 0).value("swarm_feed_lag_seconds") is None
    )


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_exporter_when_read_fails_then_gateway_down_error_counted_last_values_served() -> None:
    readings: list[Reading | Exception] = [
        read_gateway(status(OrderMetrics(submitted=3)), {}, ()),
        RuntimeError("gateway restarting"),
    ]

    def read() -> Reading:
        item = readings.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    exporter = MetricsExporter(MetricsConfig(port=0, interval_s=60), read).start()
    try:
        assert exporter.url is not None and exporter.url.startswith("http://127.0.0.1:")
        first = _scrape(exporter.url)
        assert first["swarm_orders_submitted_total[]"] == 3
        assert first["swarm_gateway_up[]"] == 1
        assert exporter.poll_once() is None
        second = _scrape(exporter.url)
        assert second["swarm_gateway_up[]"] == 0
        assert second["swarm_exporter_errors_total[]"] == 1
        assert second["swarm_orders_submitted_total[]"] == 3
    finally:
        exporter.stop()
    exporter.stop()  # idempotent


def test_exporter_when_host_not_loopback_and_not_allowed_then_refused_before_binding() -> None:
    exporter = MetricsExporter(MetricsConfig(host="0.0.0.0"), Reading)
    with pytest.raises(ConfigError) as error:
        exporter.start()
    assert error.value.key == "metrics.host"
    assert exporter.url is None


def test_grafana_dashboard_when_loaded_then_every_series_it_queries_is_exported() -> None:
    import json
    import re
    from pathlib import Path

    from prometheus_client import CollectorRegistry, generate_latest

    from cli.metrics import _ReadingCollector

    orders = OrderMetrics()
    orders.deny("off_tick")  # a reason label appears with the first denial
    reading = read_gateway(status(orders), {"mm": view(10)}, ["mm"])
    reading.extend(read_feed({"events": 1, "market_time_ns": 5}, now_ns=10))
    collector = _ReadingCollector()
    collector.publish(reading)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    exported = {
        s.name
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    path = Path(__file__).resolve().parents[3] / "configs" / "grafana-swarm.json"
    dashboard = json.loads(path.read_text())
    queried = {
        match
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for match in re.findall(r"swarm_[a-z_]+", target["expr"])
    }
    assert len(queried) >= 15
    assert queried <= exported, sorted(queried - exported)
