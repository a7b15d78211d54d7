"""Serve the cockpit from the running driver: uvicorn on a thread, the collector on another.

``start_cockpit(...)`` checks the bind (``[cockpit] host`` must be loopback
unless ``allow_remote``), makes a random token, starts the collector and the
server, and returns a ``Cockpit`` whose ``url`` carries the token: the caller
prints it once on stderr (``dashboard: http://127.0.0.1:PORT/?token=...``);
nothing else ever logs it (no access log). Controls go through the typed
clients (``cli.cockpit.controls``) with the operator named ``<login> (cockpit)``.
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cli.cockpit.app import build_app, new_token
from cli.cockpit.collector import Collector
from cli.cockpit.controls import (
    BREAKER_ACTIONS,
    ControlFailed,
    ControlledAgent,
    agent_action,
    breaker_action,
)
from cli.cockpit.events import Bounds
from cli.cockpit.state import CockpitState
from core.config import SwarmConfig
from core.errors import ConfigError


def check_cockpit_host(host: str, allow_remote: bool) -> str:
    """Return ``host``, or raise ``ConfigError`` naming ``cockpit.host`` (not loopback, not allowed)."""
    from cli.runtime import is_loopback

    if not host:
        raise ConfigError("config", "cockpit.host", host, "must name a host (127.0.0.1)")
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            "config",
            "cockpit.host",
            host,
            "listens beyond this machine, guarded only by a token sent in clear; "
            "set [cockpit] allow_remote = true to accept that",
        )
    return host


class Cockpit:
    """A running cockpit: ``url`` (with the token), ``state``, ``collector``; ``stop()``."""

    def __init__(
        self,
        server: Any,
        thread: threading.Thread | None,
        collector: Collector,
        url: str | None,
    ) -> None:
        self._server = server
        self._thread = thread
        self.collector = collector
        self.state = collector.state
        self.url = url

    def stop(self) -> None:
        self.collector.stop()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)


def make_control(
    gateway: Any, agent_client: Callable[[str], ControlledAgent], operator: str
) -> Callable[[str, str | None, str], dict[str, Any]]:
    """The cockpit's ``control(action, agent, reason)`` over the typed clients."""

    def control(action: str, agent: str | None, reason: str) -> dict[str, Any]:
        if action in BREAKER_ACTIONS:
            return breaker_action(gateway, action, operator, reason)
        if not agent:
            raise ControlFailed(f"{action}: agent: missing")
        return agent_action(gateway, agent_client, action, agent, operator, reason)

    return control


def start_cockpit(
    config: SwarmConfig,
    *,
    gateway: Any,
    council: Any = None,
    agent_handles: Mapping[str, Any] | None = None,
    venues: Mapping[str, Any] | None = None,
    progress: Callable[[], Mapping[str, Any]] | None = None,
    mode: str = "paper",
    alerts: Any = None,
    serve: bool = True,
) -> Cockpit:
    """Start the collector and the server (see the module doc); return the running cockpit.

    ``alerts`` (a ``cli.alerts.AlertSender``) gets each new event; ``serve=False`` runs the
    collector alone (the alerts' reads when the cockpit is off): ``url`` is then None.
    """
    import uvicorn

    from agents.client import AgentClient
    from gateway.client import GatewayClient

    settings = config.cockpit
    host = check_cockpit_host(settings.host, settings.allow_remote) if serve else ""

    reader = GatewayClient(gateway.handle, deadline_s=5)
    handles = dict(agent_handles or {})
    agents = {name: AgentClient(name, handle, deadline_s=3) for name, handle in handles.items()}
    state = CockpitState(
        Bounds(config.alerts.unknown_order_age_s, config.alerts.feed_stale_s),
        mode=mode,
        on_events=alerts.send_events if alerts is not None else None,
    )
    if alerts is not None:
        state.alert_stats = alerts.stats
    collector = Collector(
        state,
        gateway=reader,
        council=council,
        agents=agents,
        venues=venues,
        progress=progress,
        interval_s=settings.refresh_s,
    )
    collector.read_once()  # the page has data from its first load
    collector.start()

    def agent_client(agent_id: str) -> ControlledAgent:
        handle = handles.get(agent_id)
        if handle is None:
            raise ValueError(f"no agent {agent_id!r}")
        return AgentClient(agent_id, handle, deadline_s=30)

    if not serve:
        return Cockpit(None, None, collector, None)

    control = make_control(
        GatewayClient(gateway.handle, deadline_s=30),
        agent_client,
        f"{getpass.getuser()} (cockpit)",
    )
    state_dir = Path(config.state.dir)
    if not state_dir.is_absolute():
        state_dir = Path(__file__).resolve().parents[2] / state_dir
    token = new_token()
    app = build_app(state, token, control, state_dir=state_dir)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="cockpit-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            collector.stop()
            raise ConfigError(
                "config", "cockpit.port", settings.port, "the cockpit could not listen there"
            )
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return Cockpit(server, thread, collector, f"http://{shown}:{port}/?token={token}")
