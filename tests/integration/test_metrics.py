"""The metrics exporter against a real gateway actor: scrape ``/metrics``, parse it with prometheus-client.

A real venue actor and gateway actor in the shared Ray session; orders with known
outcomes (accepted and resting, a duplicate, denials with a known reason) go
through the gateway; the exporter's endpoint must then report exactly those
counts, the latency histograms, the breaker and the agents' budgets. The same
series must reach Ray's metrics pipeline (the node's metrics export port).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.metrics import MetricsExporter, start_exporter
from core.config import MetricsConfig, SwarmConfig
from gateway.client import GatewayClient
from tests.integration.gateway_support import resting_intent, start_system, stop_system

RAY_EXPORT_WAIT_S = 90.0


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Return ``{sample name: {sorted labels: value}}`` parsed by prometheus-client."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


@pytest.fixture
def gateway(ray_session: str, tmp_path: Path) -> Iterator[GatewayClient]:
    _, client = start_system(tmp_path / "state")
    try:
        yield client
    finally:
        stop_system()


@pytest.fixture
def exporter(gateway: GatewayClient) -> Iterator[MetricsExporter]:
    config = SwarmConfig(metrics=MetricsConfig(port=0, interval_s=0.5))
    running = start_exporter(config, gateway, ["agent0", "agent1"])
    try:
        yield running
    finally:
        running.stop()


def _send_known_orders(gateway: GatewayClient) -> None:
    """3 accepted resting orders, 1 duplicate, 2 denials for a price off the tick."""
    for n in range(3):
        assert gateway.submit(resting_intent("agent0", n)).accepted
    assert gateway.submit(resting_intent("agent0", 0)).duplicate
    for n in (10, 11):
        off_tick = resting_intent("agent1", n).model_copy(update={"price": Decimal("58000.05")})
        denial = gateway.submit(off_tick).denial
        assert denial is not None and str(denial.reason) == "off_tick", denial


def test_scrape_when_orders_sent_then_counts_histograms_breaker_and_budgets_parse(
    gateway: GatewayClient, exporter: MetricsExporter
) -> None:
    _send_known_orders(gateway)
    assert exporter.poll_once() is not None
    assert exporter.url is not None and exporter.url.startswith("http://127.0.0.1:")

    m = scrape(exporter.url)

    assert m["swarm_orders_submitted_total"][()] == 6
    assert m["swarm_orders_duplicate_total"][()] == 1
    assert m["swarm_orders_sent_total"][()] == 3
    assert m["swarm_orders_accepted_total"][()] == 3
    assert m["swarm_orders_rejected_total"][()] == 0
    assert m["swarm_orders_unknown_total"][()] == 0
    assert m["swarm_orders_denied_total"][(("reason", "off_tick"),)] == 2
    # Every submit call is timed; each commit of the WAL too (budgets, marks, the 3 orders' records).
    assert m["swarm_submit_latency_seconds_count"][()] == 6
    assert m["swarm_submit_latency_seconds_bucket"][(("le", "+Inf"),)] == 6
    assert m["swarm_submit_latency_seconds_sum"][()] > 0
    assert m["swarm_wal_fsync_latency_seconds_count"][()] >= 3
    assert m["swarm_breaker_state"][(("state", "closed"),)] == 1
    assert m["swarm_breaker_state"][(("state", "open"),)] == 0
    assert m["swarm_gateway_up"][()] == 1
    assert m["swarm_agent_budget"][(("agent", "agent0"),)] == 10**12
    assert m["swarm_agent_weight"][(("agent", "agent1"),)] == pytest.approx(0.5)
    assert (("agent", "agent2"),) not in m["swarm_agent_budget"]  # only the agents asked for
    assert m["swarm_exporter_errors_total"][()] == 0


def test_scrape_when_gateway_killed_then_gateway_down_and_last_counts_kept(
    gateway: GatewayClient, exporter: MetricsExporter
) -> None:
    import ray

    _send_known_orders(gateway)
    assert exporter.poll_once() is not None
    ray.kill(gateway.handle, no_restart=True)

    assert exporter.poll_once() is None
    m = scrape(exporter.url or "")

    assert m["swarm_gateway_up"][()] == 0
    assert m["swarm_exporter_errors_total"][()] >= 1
    assert m["swarm_orders_submitted_total"][()] == 6


def _ray_export_url() -> str:
    import ray

    node = next(n for n in ray.nodes() if n["Alive"])
    return f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"


def test_ray_pipeline_when_orders_sent_then_swarm_series_on_node_export_port(
    gateway: GatewayClient, exporter: MetricsExporter
) -> None:
    _send_known_orders(gateway)
    assert exporter.poll_once() is not None
    run = ("run", gateway.status()["state_dir"])  # this run's series only
    url = _ray_export_url()
    deadline = time.monotonic() + RAY_EXPORT_WAIT_S
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:  # Ray exports every few seconds: wait for the values
        found = {
            name: {labels: v for labels, v in series.items() if run in labels}
            for name, series in scrape(url).items()
            if "swarm_orders_submitted" in name or "swarm_orders_denied" in name
        }
        submitted = [v for name, s in found.items() if "submitted" in name for v in s.values()]
        if submitted and max(submitted) >= 6:
            break
        exporter.poll_once()
        time.sleep(1.0)
    submitted_names = [n for n in found if "swarm_orders_submitted" in n]
    assert submitted_names, f"no swarm series on {url}"
    assert [v for n in submitted_names for v in found[n].values()] == [6]
    denied = [
        v
        for n, series in found.items()
        if "swarm_orders_denied" in n
        for labels, v in series.items()
        if ("reason", "off_tick") in labels
    ]
    assert denied == [2]
