"""Alerts through apprise: off by default, deduplicated, rate-limited, never on the order path.

``[alerts] urls`` (empty: off) lists apprise URLs (``tgram://``, ``slack://``,
``discord://``, ``mailto://``, ``json://``, ``form://`` ...). A URL names its
secrets as ``${NAME}``: they are taken from the environment at start (a missing
variable is a ``ConfigError`` naming the URL's index and the variable), and
every log line shows a URL redacted (``redact_url``: its scheme only).

What is sent: the cockpit's events of the kinds in ``cli.cockpit.events.ALERT_KINDS``
(breaker transitions, reconciliation lost, recoveries, agents paused or
erring, orders unknown past ``unknown_order_age_s``, a stale or gapped feed,
an actor not answering). They come from the driver's collector thread, which
reads the system through the typed clients: an alert is never in an order's
call path, and ``AlertSender.send_events`` only queues (bounded, non-blocking);
one sender thread talks to the endpoints, each send bounded by ``timeout_s``.
So a dead or hanging endpoint slows nothing but its own thread
(``tests/bench/alerts.py`` measures submit latency with one).

``AlertPolicy`` (pure) decides what goes: the same alert (kind, subject; for the
breaker, the transition) within ``dedup_s`` is dropped; beyond
``max_per_minute`` alerts are suppressed and counted, and the next alert that
goes says how many were.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cli.cockpit.events import Event
from core.config import AlertsConfig, SwarmConfig
from core.errors import ConfigError

log = logging.getLogger(__name__)

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_url(url: str, environ: Mapping[str, str], index: int) -> str:
    """Fill ``${NAME}`` from the environment; ``ConfigError`` names the URL and the variable."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                "config", f"alerts.urls[{index}]", redact_url(url), f"${{{name}}} is not set"
            )
        return environ[name]

    return _VARIABLE.sub(fill, url)


def redact_url(url: str) -> str:
    """The URL as a log may show it: its scheme only (tokens hide in hosts, users and paths)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"


@dataclass(frozen=True)
class Alert:
    title: str
    body: str
    kind: str
    key: tuple[str, ...]


def alert_key(event: Event) -> tuple[str, ...]:
    """What makes two alerts the same: kind and subject (a breaker's: its transition too)."""
    if event.kind == "breaker":
        return (event.kind, event.subject, event.message)
    return (event.kind, event.subject)


@dataclass
class AlertPolicy:
    """Dedup and rate limit (see the module doc); ``clock`` in seconds."""

    dedup_s: float = 600.0
    max_per_minute: int = 10
    clock: Callable[[], float] = time.monotonic
    suppressed: int = 0
    duplicates: int = 0
    _last: dict[tuple[str, ...], float] = field(default_factory=dict)
    _sent: deque[float] = field(default_factory=deque)

    def admit(self, events: Iterable[Event]) -> list[Alert]:
        """Return the alerts to send now for ``events`` (alert kinds only)."""
        out: list[Alert] = []
        for event in events:
            if not event.alert:
                continue
            now = self.clock()
            key = alert_key(event)
            last = self._last.get(key)
            if last is not None and now - last < self.dedup_s:
                self.duplicates += 1
                continue
            while self._sent and now - self._sent[0] >= 60.0:
                self._sent.popleft()
            if len(self._sent) >= self.max_per_minute:
                self.suppressed += 1
                continue
            self._last[key] = now
            self._sent.append(now)
            body = event.message
            if self.suppressed:
                body += f" ({self.suppressed} more alert(s) suppressed by the rate limit)"
                self.suppressed = 0
            out.append(
                Alert(f"Swarm {event.level}: {event.kind} {event.subject}", body, event.kind, key)
            )
        return out


def with_timeouts(url: str, timeout_s: float) -> str:
    """Add apprise's connect and read timeouts (``cto``, ``rto``) unless the URL sets them."""
    if "cto=" in url or "rto=" in url:
        return url
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}cto={timeout_s:g}&rto={timeout_s:g}"


class AlertSender:
    """Queue alerts (never blocking the caller) and send them on one thread through apprise."""

    def __init__(
        self,
        urls: list[str],
        config: AlertsConfig,
        *,
        policy: AlertPolicy | None = None,
        notify: Callable[[str, str, str], bool] | None = None,
    ) -> None:
        self._urls = [with_timeouts(u, config.timeout_s) for u in urls]
        self._shown = [redact_url(u) for u in urls]
        self.policy = policy or AlertPolicy(config.dedup_s, config.max_per_minute)
        self._notify = notify or _apprise_notify
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=config.queue)
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._pending = 0  # queued or being sent
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def send_events(self, events: list[Event]) -> int:
        """Queue the alerts ``events`` call for; return how many were queued (never blocks)."""
        with self._lock:
            alerts = self.policy.admit(events)
        queued = 0
        for alert in alerts:
            with self._lock:
                self._pending += 1
            try:
                self._queue.put_nowait(alert)
                queued += 1
            except queue.Full:
                with self._lock:
                    self._pending -= 1
                self.dropped += 1
        return queued

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            for url, shown in zip(self._urls, self._shown, strict=True):
                try:
                    ok = self._notify(url, alert.title, alert.body)
                    error = "not delivered"
                except Exception as exc:  # an endpoint's failure stays on this thread
                    ok, error = False, type(exc).__name__
                if ok:
                    self.sent += 1
                else:
                    self.failed += 1
                    self.last_error = f"{shown}: {error}"
                    log.warning("alert %r to %s: %s", alert.title, shown, error)
            with self._lock:
                self._pending -= 1

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until the queue is empty (tests); return whether it is."""
        deadline = time.monotonic() + timeout_s
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._pending == 0

    def stats(self) -> dict[str, Any]:
        return {
            "urls": list(self._shown),
            "sent": self.sent,
            "failed": self.failed,
            "dropped": self.dropped,
            "duplicates": self.policy.duplicates,
            "last_error": self.last_error,
        }

    def close(self, timeout_s: float = 1.0, *, drop_queued: bool = False) -> None:
        """Stop the thread after what is queued (or at once with ``drop_queued``), waiting
        at most ``timeout_s`` (a send to a dead endpoint ends at its own timeout)."""
        if drop_queued:
            while True:
                try:
                    if self._queue.get_nowait() is not None:
                        with self._lock:
                            self._pending -= 1
                            self.dropped += 1
                except queue.Empty:
                    break
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout=timeout_s)


def _apprise_notify(url: str, title: str, body: str) -> bool:
    import apprise

    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its messages may quote a URL
    client = apprise.Apprise()
    if not client.add(url):
        raise ValueError("not an apprise URL")
    return bool(client.notify(title=title, body=body))


def start_alerts(
    config: SwarmConfig, environ: Mapping[str, str] | None = None
) -> AlertSender | None:
    """Return a running sender for ``[alerts] urls`` (None when the list is empty: off)."""
    urls = config.alerts.urls
    if not urls:
        return None
    env = os.environ if environ is None else environ
    expanded = [expand_url(url, env, i) for i, url in enumerate(urls)]
    sender = AlertSender(expanded, config.alerts)
    log.info("alerts: on, to %s", ", ".join(redact_url(u) for u in urls))
    return sender
