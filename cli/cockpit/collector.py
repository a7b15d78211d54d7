"""The cockpit's reads of the running system: one thread in the driver, through the typed clients.

Every ``interval_s`` it makes one round of the reads the console makes (the
gateway's ``snapshot()`` and ``status()``, the council's ``history()``, each
agent's ``stats()``, the feed's progress, the venues' stats) plus the new
entries of the gateway's council log (the operator's controls, read from the
index it reached last), and folds them into the ``CockpitState``. An actor that
does not answer is recorded in the reading's ``errors`` (its heartbeat goes
stale) and the round goes on. No ``.remote()`` here: the clients are handed in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from agents.controls import controls_of
from cli.cockpit.events import Reading
from cli.cockpit.state import CockpitState

log = logging.getLogger(__name__)


class Collector:
    """See the module doc."""

    def __init__(
        self,
        state: CockpitState,
        *,
        gateway: Any,
        council: Any = None,
        agents: Mapping[str, Any] | None = None,
        venues: Mapping[str, Any] | None = None,
        progress: Callable[[], Mapping[str, Any]] | None = None,
        interval_s: float = 1.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.state = state
        self._gateway = gateway
        self._council = council
        self._agents = dict(agents or {})
        self._venues = dict(venues or {})
        self._progress = progress
        self._interval_s = interval_s
        self._clock = clock
        self._controls: list[dict[str, Any]] = []
        self._log_seen = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read_once(self) -> Reading:
        """One round of reads, folded into the state; return the reading."""
        errors: dict[str, str] = {}

        def ask(actor: str, call: Callable[[], Any]) -> Any:
            try:
                return call()
            except Exception as exc:  # the page shows it; the next round asks again
                errors[actor] = f"{type(exc).__name__}: {exc}"[:300]
                return None

        snapshot = ask("gateway", self._gateway.snapshot)
        status = ask("gateway", self._gateway.status) if snapshot is not None else None
        entries = ask("gateway", lambda: self._gateway.council_log(self._log_seen))
        if entries:
            self._log_seen += len(entries)
            self._controls.extend(controls_of(entries))
        history = ask("council", self._council.history) if self._council is not None else None
        agents = {}
        for name, client in self._agents.items():
            stats = ask(f"agent:{name}", client.stats)
            if stats is not None:
                agents[name] = stats
        venues = {}
        for name, client in self._venues.items():
            stats = ask(f"venue:{name}", client.stats)
            if stats is not None:
                venues[name] = stats
        progress = ask("feed", self._progress) if self._progress is not None else None
        reading = Reading(
            at_ns=self._clock(),
            snapshot=snapshot,
            status=status,
            history=history,
            controls=tuple(self._controls),
            agents=agents,
            progress=progress,
            venues=venues,
            errors=errors,
        )
        self.state.update(reading)
        return reading

    def start(self) -> Collector:
        self._thread = threading.Thread(target=self._loop, name="cockpit-collector", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.read_once()
            except Exception:  # never let the thread die: the page would freeze
                log.exception("cockpit: a round of reads failed")
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
