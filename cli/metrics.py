"""Prometheus metrics of a running Swarm: through Ray's metrics pipeline and a plain ``/metrics``.

Contract
    ``start_exporter(config, gateway, agent_ids, feed=None)`` starts a thread
    in the driver that, every ``[metrics] interval_s`` (1 s by default), reads
    the gateway's ``status()`` and ``snapshot()`` (and the feed's
    ``progress()`` when given), turns them into one ``Reading`` (the pure
    ``read_gateway`` / ``read_feed``) and publishes it twice:

    - on a plain prometheus-client ``/metrics`` endpoint bound to
      ``[metrics] host`` (127.0.0.1; anything else is refused unless
      ``allow_remote``), port ``[metrics] port`` (0: a free one, see ``.url``);
    - through ``ray.util.metrics`` (``[metrics] ray_metrics``), so the same
      series appear with Ray's own on each node's metrics export port
      (prefixed ``ray_`` by Ray) and in the dashboard's Grafana.

    What is exported (prefix ``swarm_``): orders submitted, duplicate, sent,
    accepted, rejected, unknown, denied by reason; fills; the submit and
    WAL-commit (append + fsync) latency histograms; the breaker state (one
    series per state, 1 for the current one) and whether the gateway answers;
    in Ray's pipeline every series also carries ``run`` (the gateway's state
    directory), so two runs in one Ray never add up;
    per agent equity, P&L (realized, unrealized), budget, free budget and
    weight (its share of all budgets); the feed's events, market time and lag.

    A failed read (the gateway restarting) is counted in
    ``swarm_exporter_errors_total`` and ``swarm_gateway_up`` drops to 0; the
    last good values stay served. Counts restart from zero when the gateway
    restarts: the endpoint shows them as they are (Prometheus' counter-reset
    rule), Ray's counters get only the growth (``core.metrics.counter_delta``).
    Money is ``Decimal`` everywhere else; it becomes a float only here, at the
    Prometheus boundary.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.config import MetricsConfig, SwarmConfig
from core.errors import ConfigError
from core.metrics import counter_delta

log = logging.getLogger(__name__)

PREFIX = "swarm_"
BREAKER_STATES = ("closed", "draining", "open", "half_open")

Labels = tuple[tuple[str, str], ...]

COUNTERS: dict[str, tuple[str, str]] = {
    # metric name -> (key in OrderMetrics.as_dict(), help)
    "orders_submitted": ("submitted", "Intents handed to the gateway (duplicates included)."),
    "orders_duplicate": ("duplicates", "Intents the gateway already knew (nothing sent)."),
    "orders_sent": ("sent", "Creates sent to a venue."),
    "orders_accepted": ("accepted", "Creates the venue answered with an order."),
    "orders_rejected": ("rejected", "Creates the venue refused (no order exists)."),
    "orders_unknown": ("unknown", "Creates without a trustworthy answer (resolved by asking)."),
    "fills": ("fills", "Fills applied (each trade id once)."),
}
HISTOGRAMS: dict[str, tuple[str, str]] = {
    "submit_latency_seconds": ("submit_latency", "Gateway submit call, decision to answer."),
    "wal_fsync_latency_seconds": ("wal_commit_latency", "WAL append and fsync of one commit."),
}
AGENT_GAUGES: dict[str, str] = {
    "agent_equity": "Agent equity (budget plus P&L), unit of account.",
    "agent_pnl": "Agent mark-to-market P&L since the start.",
    "agent_realized_pnl": "Agent realized P&L.",
    "agent_unrealized_pnl": "Agent unrealized P&L.",
    "agent_budget": "Agent budget set by the council (or the config).",
    "agent_free_budget": "Agent budget not reserved or used.",
    "agent_weight": "Agent share of all budgets (0..1).",
}


# -- THE READING (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One counter or gauge value."""

    name: str
    kind: str  # "counter" | "gauge"
    help: str
    value: float
    labels: Labels = ()


@dataclass(frozen=True)
class HistogramSample:
    """One histogram as ``core.metrics.LatencyHistogram.as_dict()`` gives it."""

    name: str
    help: str
    bounds_s: tuple[float, ...]
    counts: tuple[int, ...]  # per bucket, the last one +Inf
    sum_s: float


@dataclass
class Reading:
    """Everything one poll saw."""

    samples: list[Sample] = field(default_factory=list)
    histograms: list[HistogramSample] = field(default_factory=list)
    run: str = ""
    """The gateway's state directory: tags Ray's series, so runs in one Ray never add up."""

    def extend(self, other: Reading) -> None:
        self.samples.extend(other.samples)
        self.histograms.extend(other.histograms)
        self.run = self.run or other.run

    def value(self, name: str, **labels: str) -> float | None:
        """Return the sample ``name`` with exactly ``labels``; None when absent."""
        wanted = tuple(sorted(labels.items()))
        for sample in self.samples:
            if sample.name == name and sample.labels == wanted:
                return sample.value
        return None


def _labels(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def _as_dict(metrics: Any) -> Mapping[str, Any]:
    """Accept ``OrderMetrics`` (what ``status()['stats']['orders']`` holds) or its ``as_dict()``."""
    if metrics is None:
        return {}
    if isinstance(metrics, Mapping):
        return metrics
    as_dict = getattr(metrics, "as_dict", None)
    if as_dict is None:
        raise ConfigError("gateway status", "stats.orders", type(metrics).__name__, "not metrics")
    result: Mapping[str, Any] = as_dict()
    return result


def read_gateway(
    status: Mapping[str, Any], agents: Mapping[str, Any], agent_ids: Sequence[str]
) -> Reading:
    """Turn the gateway's ``status()`` and its snapshot's ``agents`` into a reading.

    ``agents`` maps an agent id to its view (``budget``, ``free``, ``pnl``,
    ``realized``, ``unrealized``, ``equity`` as ``Decimal``); only ``agent_ids``
    are exported (all ids not starting with ``_`` when it is empty).
    """
    reading = Reading(run=str(status.get("state_dir") or ""))
    add = reading.samples.append
    ready = bool(status.get("ready"))
    add(Sample(PREFIX + "gateway_up", "gauge", "1 when the gateway answered the last poll.", 1.0))
    add(Sample(PREFIX + "gateway_ready", "gauge", "1 when recovery has finished.", float(ready)))
    breaker = str(status.get("breaker") or "")
    for state in BREAKER_STATES:
        add(
            Sample(
                PREFIX + "breaker_state",
                "gauge",
                "1 for the circuit breaker's current state.",
                float(breaker == state),
                _labels(state=state),
            )
        )
    committed = status.get("wal_committed_seq")
    if committed is not None:
        add(
            Sample(PREFIX + "wal_committed_seq", "gauge", "Last committed WAL sequence.", committed)
        )
    orders = _as_dict((status.get("stats") or {}).get("orders"))
    if orders:
        for name, (key, text) in COUNTERS.items():
            add(Sample(PREFIX + name, "counter", text, float(orders[key])))
        for reason, count in sorted(orders["denied"].items()):
            add(
                Sample(
                    PREFIX + "orders_denied",
                    "counter",
                    "Intents the gateway denied, by reason.",
                    float(count),
                    _labels(reason=str(reason)),
                )
            )
        for name, (key, text) in HISTOGRAMS.items():
            h = orders[key]
            reading.histograms.append(
                HistogramSample(
                    PREFIX + name,
                    text,
                    tuple(float(b) for b in h["bounds_s"]),
                    tuple(int(c) for c in h["counts"]),
                    float(h["sum_s"]),
                )
            )
    reading.extend(read_agents(agents, agent_ids))
    return reading


def read_agents(agents: Mapping[str, Any], agent_ids: Sequence[str]) -> Reading:
    """Per-agent equity, P&L, budget, free budget and weight (share of all budgets)."""
    reading = Reading()
    ids = list(agent_ids) or sorted(a for a in agents if not a.startswith("_"))
    views = {a: agents[a] for a in ids if a in agents}
    total = sum((Decimal(v.budget) for v in views.values()), Decimal(0))
    for agent_id, view in sorted(views.items()):
        values = {
            "agent_equity": view.equity,
            "agent_pnl": view.pnl,
            "agent_realized_pnl": view.realized,
            "agent_unrealized_pnl": view.unrealized,
            "agent_budget": view.budget,
            "agent_free_budget": view.free,
            "agent_weight": (Decimal(view.budget) / total) if total > 0 else Decimal(0),
        }
        for name, value in values.items():
            reading.samples.append(
                Sample(
                    PREFIX + name,
                    "gauge",
                    AGENT_GAUGES[name],
                    float(value),
                    _labels(agent=agent_id),
                )
            )
    return reading


def read_feed(progress: Mapping[str, Any], now_ns: int) -> Reading:
    """The feed's events, market time and lag (wall time minus the newest market time)."""
    reading = Reading()
    add = reading.samples.append
    add(
        Sample(
            PREFIX + "feed_events", "counter", "Market events pushed.", float(progress["events"])
        )
    )
    market_ns = progress.get("market_time_ns")
    if market_ns:
        add(
            Sample(
                PREFIX + "feed_market_time_seconds",
                "gauge",
                "Market time of the newest event pushed (Unix seconds).",
                market_ns / 1e9,
            )
        )
        add(
            Sample(
                PREFIX + "feed_lag_seconds",
                "gauge",
                "Wall time minus the newest market time (live: the feed's delay; "
                "replay: the data's age).",
                (now_ns - market_ns) / 1e9,
            )
        )
    return reading


# -- PUBLISHING: THE PLAIN ENDPOINT ------------------------------------------------


class _ReadingCollector:
    """A prometheus-client collector that serves the latest reading as it is."""

    def __init__(self) -> None:
        self.reading = Reading()
        self.errors = 0
        self._lock = threading.Lock()

    def publish(self, reading: Reading) -> None:
        with self._lock:
            self.reading = reading

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        with self._lock:
            reading, errors = self.reading, self.errors
        families: dict[str, Any] = {}
        for s in reading.samples:
            family = families.get(s.name)
            if family is None:
                cls = CounterMetricFamily if s.kind == "counter" else GaugeMetricFamily
                family = families[s.name] = cls(s.name, s.help, labels=[k for k, _ in s.labels])
            family.add_metric([v for _, v in s.labels], s.value)
        yield from families.values()
        for h in reading.histograms:
            family = HistogramMetricFamily(h.name, h.help)
            running = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*h.bounds_s, float("inf")), h.counts, strict=True):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            family.add_metric([], buckets, h.sum_s)
            yield family
        errors_family = CounterMetricFamily(
            PREFIX + "exporter_errors", "Polls of the gateway or feed that failed."
        )
        errors_family.add_metric([], errors)
        yield errors_family


# -- PUBLISHING: RAY'S PIPELINE ---------------------------------------------------


class RayMetricsSink:
    """Mirror readings into ``ray.util.metrics`` (counters get deltas, histograms replayed)."""

    def __init__(self) -> None:
        self._metrics: dict[str, Any] = {}
        self._last_counts: dict[tuple[str, Labels], int] = {}
        self._last_buckets: dict[str, tuple[int, ...]] = {}

    def _metric(
        self, kind: str, name: str, text: str, tag_keys: tuple[str, ...], **extra: Any
    ) -> Any:
        from ray.util import metrics

        metric = self._metrics.get(name)
        if metric is None:
            cls = {
                "counter": metrics.Counter,
                "gauge": metrics.Gauge,
                "histogram": metrics.Histogram,
            }[kind]
            metric = self._metrics[name] = cls(name, text, tag_keys=tag_keys, **extra)
        return metric

    def publish(self, reading: Reading) -> None:
        run = {"run": reading.run}
        for s in reading.samples:
            tags = {**dict(s.labels), **run}
            metric = self._metric(s.kind, s.name, s.help, tuple(tags))
            if s.kind == "gauge":
                metric.set(s.value, tags=tags)
                continue
            key = (s.name, s.labels)
            current = int(s.value)
            grown = counter_delta(self._last_counts.get(key, 0), current)
            self._last_counts[key] = current
            if grown > 0:
                metric.inc(grown, tags=tags)
        for h in reading.histograms:
            metric = self._metric(
                "histogram", h.name, h.help, ("run",), boundaries=list(h.bounds_s)
            )
            previous = self._last_buckets.get(h.name, (0,) * len(h.counts))
            if sum(h.counts) < sum(previous):  # the gateway restarted: its counts began again
                previous = (0,) * len(h.counts)
            self._last_buckets[h.name] = h.counts
            # Each new duration is replayed at its bucket's upper bound: the buckets are exact,
            # the sum an upper bound (the pure histogram keeps no single durations).
            for bound, now, before in zip(
                (*h.bounds_s, h.bounds_s[-1] * 2), h.counts, previous, strict=True
            ):
                for _ in range(max(0, now - before)):
                    metric.observe(bound, tags=run)


# -- THE EXPORTER --------------------------------------------------------------------


class MetricsExporter:
    """Poll ``read`` every ``interval_s`` and publish to the endpoint and Ray (see the module doc)."""

    def __init__(
        self,
        config: MetricsConfig,
        read: Callable[[], Reading],
        *,
        ray_sink: RayMetricsSink | None = None,
    ) -> None:
        self._config = config
        self._read = read
        self._ray_sink = ray_sink
        self._collector = _ReadingCollector()
        self._stop = threading.Event()
        self._server: Any = None
        self.url: str | None = None
        self.polls = 0
        self._thread = threading.Thread(target=self._loop, name="swarm-metrics", daemon=True)

    def start(self) -> MetricsExporter:
        """Bind the endpoint (checked host), take a first reading, then poll in the background."""
        from prometheus_client import CollectorRegistry, start_http_server

        host = check_metrics_host(self._config)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._collector)
        self._server, _ = start_http_server(self._config.port, addr=host, registry=registry)
        port = self._server.server_port
        self.url = f"http://{host}:{port}/metrics"
        self.poll_once()
        self._thread.start()
        return self

    def poll_once(self) -> Reading | None:
        """Read once and publish; a failed read is counted and the last reading stays served."""
        try:
            reading = self._read()
        except Exception as exc:  # the gateway restarting, the feed gone: count it, keep serving
            log.warning("metrics poll failed: %s", exc)
            self._collector.errors += 1
            self._mark_gateway_down()
            return None
        self._collector.publish(reading)
        if self._ray_sink is not None:
            try:
                self._ray_sink.publish(reading)
            except Exception as exc:  # Ray's pipeline is a mirror: it must not stop the endpoint
                log.warning("ray metrics not updated: %s", exc)
                self._collector.errors += 1
        self.polls += 1
        return reading

    def _mark_gateway_down(self) -> None:
        last = self._collector.reading
        samples = [
            Sample(s.name, s.kind, s.help, 0.0, s.labels) if s.name == PREFIX + "gateway_up" else s
            for s in last.samples
        ]
        self._collector.publish(Reading(samples, list(last.histograms)))

    def _loop(self) -> None:
        while not self._stop.wait(self._config.interval_s):
            self.poll_once()

    def stop(self) -> None:
        """Stop polling and close the endpoint (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._config.interval_s + 10)
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()


def check_metrics_host(config: MetricsConfig) -> str:
    """Return the endpoint's host; refuse a non-loopback one unless the config allows it."""
    from cli.runtime import check_listen_host

    return check_listen_host(config.host, allow_remote=config.allow_remote, key="metrics.host")


def start_exporter(
    config: SwarmConfig,
    gateway: Any,
    agent_ids: Sequence[str],
    feed: Any | None = None,
) -> MetricsExporter:
    """Start the exporter of a running system: ``gateway`` is a ``GatewayClient``, ``feed`` the
    feed actor's handle (optional). Return it started (``.url``, ``.stop()``)."""
    from gateway.client import GatewayClient

    # A short deadline: a poll must not hang on a restarting gateway (the next one retries).
    client = GatewayClient(gateway.handle, deadline_s=min(5.0, config.metrics.interval_s * 5))
    ids = tuple(agent_ids)

    def read() -> Reading:
        reading = read_gateway(client.status(), client.snapshot().agents, ids)
        if feed is not None:
            import ray

            progress = ray.get(feed.progress.remote(), timeout=5)
            reading.extend(read_feed(progress, time.time_ns()))
        return reading

    sink = RayMetricsSink() if config.metrics.ray_metrics else None
    return MetricsExporter(config.metrics, read, ray_sink=sink).start()
