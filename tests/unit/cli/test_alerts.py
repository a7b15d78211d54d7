"""Alerts without Ray: the policy, secrets from the environment, a real local listener, a dead one."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cli.alerts import AlertPolicy, AlertSender, expand_url, redact_url, start_alerts
from cli.cockpit.events import Event
from core.config import AlertsConfig, SwarmConfig
from core.errors import ConfigError
from tests.bench import alerts as bench

SECRET = "s3cr3t-pass-4242"


def event(
    kind: str = "breaker", subject: str = "gateway", message: str = "breaker closed -> draining"
) -> Event:
    return Event(1, kind, subject, message, "critical")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_policy_when_same_alert_within_dedup_then_dropped_after_it_sent_again() -> None:
    clock = Clock()
    policy = AlertPolicy(dedup_s=60, max_per_minute=100, clock=clock)
    assert len(policy.admit([event(), event()])) == 1
    clock.now = 30
    assert policy.admit([event()]) == []
    assert len(policy.admit([event(message="breaker draining -> open")])) == 1  # another transition
    clock.now = 61
    assert len(policy.admit([event()])) == 1
    assert policy.duplicates == 2
    assert policy.admit([event(kind="denial")]) == []  # not an alert kind: the cockpit only


def test_policy_when_more_than_the_rate_then_suppressed_and_counted_in_the_next() -> None:
    clock = Clock()
    policy = AlertPolicy(dedup_s=0, max_per_minute=2, clock=clock)
    sent = policy.admit([event("agent_error", f"a{i}", "boom") for i in range(5)])
    assert len(sent) == 2 and policy.suppressed == 3
    clock.now = 60
    (next_one,) = policy.admit([event("agent_error", "late", "boom")])
    assert next_one.body == "boom (3 more alert(s) suppressed by the rate limit)"


def test_expand_url_when_variable_missing_then_config_error_names_url_and_variable() -> None:
    assert expand_url("json://u:${PW}@h/", {"PW": "x"}, 0) == "json://u:x@h/"
    with pytest.raises(ConfigError) as caught:
        expand_url("json://u:${PW}@h/", {}, 3)
    assert caught.value.key == "alerts.urls[3]" and "${PW} is not set" in str(caught.value)
    assert redact_url(f"tgram://{SECRET}/123") == "tgram://***"


def test_start_alerts_when_no_urls_then_off() -> None:
    assert start_alerts(SwarmConfig()) is None


@pytest.fixture
def listener() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"auth": self.headers.get("Authorization"), "body": json.loads(body)})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()


def test_sender_when_breaker_trips_then_local_listener_gets_it_with_env_secret_and_logs_redacted(
    listener: tuple[int, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture
) -> None:
    port, received = listener
    config = SwarmConfig(
        alerts=AlertsConfig(urls=[f"json://ops:${{HOOK_PW}}@127.0.0.1:{port}/hook"])
    )
    caplog.set_level(logging.DEBUG)
    sender = start_alerts(config, {"HOOK_PW": SECRET})
    assert sender is not None
    try:
        assert sender.send_events([event(), event()]) == 1  # the duplicate is dropped
        assert sender.wait_idle(30)
    finally:
        sender.close()
    assert len(received) == 1 and sender.sent == 1
    payload = received[0]["body"]
    assert payload["title"] == "Swarm critical: breaker gateway"
    assert payload["message"] == "breaker closed -> draining"
    assert base64.b64decode(received[0]["auth"].split()[1]).decode() == f"ops:{SECRET}"
    assert SECRET not in caplog.text and "json://***" in caplog.text
    assert SECRET not in json.dumps(sender.stats())


def test_sender_when_endpoint_hangs_then_send_events_never_blocks_and_failure_is_counted() -> None:
    server, port, stop = bench.hanging_endpoint()
    config = AlertsConfig(timeout_s=1.0, queue=3)
    sender = AlertSender(
        [f"json://127.0.0.1:{port}/hook"], config, policy=AlertPolicy(dedup_s=0, max_per_minute=100)
    )
    try:
        slowest = 0.0
        for i in range(10):
            started = time.perf_counter()
            sender.send_events([event("agent_error", f"a{i}", "boom")])
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, slowest  # queued, never sent on the caller's thread
        assert sender.dropped >= 6  # the queue of 3 is full behind the hanging send
        assert sender.wait_idle(60)
        assert sender.failed >= 1 and sender.sent == 0
    finally:
        sender.close(timeout_s=0.1, drop_queued=True)
        stop.set()
        server.close()


def test_submit_latency_when_alert_endpoint_dead_then_not_slower_than_without() -> None:
    figures = bench.measure(orders=150)
    for dead in ("hanging", "refused"):
        # Medians: the alerts' thread shares this process (in a run it is the driver's).
        assert figures[dead]["p50_ms"] <= 2 * figures["none"]["p50_ms"] + 2.0, figures
        assert figures[dead]["alerts_sent"] == 0
