"""Ray start-up and the one factory that turns plain classes into named actors.

Ray decorators are applied here only (``ray.remote(**options)(Cls)``), with each
actor's restart and concurrency policy, so the classes stay plain and testable.

Start or join (``start_ray``)
    Without an address, a local Ray starts with token authentication on (Ray
    2.60's default; ``RAY_AUTH_MODE`` in the environment decides, because Ray
    reads it at import: ``[ray] token_auth = false`` only warns to set it)
    and, with ``dashboard``, the dashboard on ``[ray] dashboard_host``, which
    must be loopback unless ``dashboard_allow_remote`` says otherwise
    (``ConfigError``). With an address the driver joins that cluster and the
    code travels as the ``runtime_env`` working directory (the project root
    without ``.venv``, ``.git``, ``var`` and caches); the cluster's token must
    be in the driver's environment (``RAY_AUTH_MODE=token`` and
    ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``) unless it runs on the head.

Placement (``actor_options``)
    Decided by the pure ``placement`` from the cluster's facts, so callers
    need no change: when a node advertises the gateway resource, the gateway
    asks for a little of it (it runs where its WAL disk is), and so do the
    paper venues (they stand for the outside world: losing a worker node must
    not close an exchange); agents are dealt over the alive nodes; on a cluster
    of several nodes the feed is pinned to the driver's node, where its data
    directory was resolved. Explicit overrides win.

Re-creation (``replace_actor``)
    A named actor lost with its node is killed for good and created again
    under the same name, placed over the nodes alive now (the driver's
    ``cli.supervisor`` does it for the agents).
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from core.config import RayConfig
from core.errors import ConfigError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent

GATEWAY_RESOURCE_SHARE = 0.001
"""What the gateway asks of its node's gateway resource: a marker, not a capacity."""

WORKING_DIR_EXCLUDES: tuple[str, ...] = (
    ".venv",
    ".git",
    "var",
    "**/__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "*.duckdb",
)
"""What stays behind when the code travels to a cluster (the venv, the history, run state)."""


@dataclass(frozen=True)
class ActorPolicy:
    """How Ray runs one kind of actor."""

    max_restarts: int = 0
    max_concurrency: int = 1
    lifetime: str | None = None  # "detached" for actors that outlive the driver
    num_cpus: float = 0  # system actors hold no whole core (2-core machines: RAY-NOTES.md)


POLICIES: dict[str, ActorPolicy] = {
    # The paper venue stands for the outside world: it is never restarted.
    "venue": ActorPolicy(max_restarts=0),
    # The feed is threaded so its progress can be read while it replays.
    "feed": ActorPolicy(max_restarts=-1, max_concurrency=4),
    # The gateway outlives any driver and is restarted forever; recovery is in its constructor.
    # An async actor: concurrent callers overlap on its event loop (per-symbol locks inside).
    "gateway": ActorPolicy(max_restarts=-1, max_concurrency=256, lifetime="detached"),
    # An agent decides one batch at a time (async actor, one call at a time); Ray restarts it.
    "agent": ActorPolicy(max_restarts=-1, max_concurrency=1),
    # The council decides one tick at a time; its decisions live in the gateway's WAL.
    "council": ActorPolicy(max_restarts=-1, max_concurrency=1),
}


# -- START OR JOIN -------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_host(host: str, *, allow_remote: bool, key: str) -> str:
    """Return ``host``, or raise ``ConfigError`` naming ``key`` when it is not loopback and not allowed."""
    if not host:
        raise ConfigError("config", key, host, "must name a host (127.0.0.1 by default)")
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            "config",
            key,
            host,
            "listens beyond this machine with no authentication of its own; "
            "set the matching allow_remote = true to accept that",
        )
    return host


def token_auth_supported() -> bool:
    """Tell whether this Ray has token authentication (Ray 2.5x and later)."""
    try:
        import ray._private.authentication.authentication_token_setup  # noqa: F401
    except ImportError:
        return False
    return True


def auth_environment(
    token_auth: bool, environ: Mapping[str, str], *, supported: bool
) -> dict[str, str]:
    """Return the variables to set before starting a local Ray: token mode unless the
    operator chose a mode already (``RAY_AUTH_MODE`` set) or this Ray has none."""
    if not supported or "RAY_AUTH_MODE" in environ:
        return {}
    return {"RAY_AUTH_MODE": "token" if token_auth else "disabled"}


def runtime_env_for(root: Path, joining: bool) -> dict[str, Any] | None:
    """Return the ``runtime_env`` that carries the code to a cluster's nodes (None locally)."""
    if not joining:
        return None
    return {"working_dir": str(root), "excludes": list(WORKING_DIR_EXCLUDES)}


def start_ray(
    config: RayConfig, *, address: str | None = None, dashboard: bool | None = None
) -> dict[str, Any]:
    """Start a local Ray (or join ``address``) in the config's namespace; return its context facts.

    Raise ``ConfigError`` for a non-loopback dashboard host that the config does not allow.
    """
    target = address if address is not None else config.address
    with_dashboard = config.dashboard if dashboard is None else dashboard
    if with_dashboard and not target:  # a bad host is refused even when Ray already runs
        check_listen_host(
            config.dashboard_host,
            allow_remote=config.dashboard_allow_remote,
            key="ray.dashboard_host",
        )
    set_gateway_resource(config.gateway_resource)
    if ray.is_initialized():
        return {"address": ray.get_runtime_context().gcs_address, "joined": True}
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    kwargs: dict[str, Any] = {
        "namespace": config.namespace,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if target:
        kwargs["address"] = target
        kwargs["runtime_env"] = runtime_env_for(ROOT, joining=True)
        if with_dashboard:
            log.warning(
                "joining %s: the dashboard is the head's (ray start --include-dashboard)", target
            )
    else:
        # Ray reads RAY_AUTH_MODE when it is imported: setting it here would start the
        # head in token mode while this driver stays in the mode read at import, and the
        # driver could not talk to its own head. Ray 2.60 already defaults to token mode;
        # the environment decides (./swarm and the README say how to change it).
        wanted = auth_environment(config.token_auth, os.environ, supported=token_auth_supported())
        if wanted.get("RAY_AUTH_MODE") == "disabled":
            log.warning("[ray] token_auth = false: set RAY_AUTH_MODE=disabled before starting")
        kwargs["include_dashboard"] = with_dashboard
        kwargs["dashboard_host"] = config.dashboard_host
        kwargs["dashboard_port"] = config.dashboard_port
    context = ray.init(**kwargs)
    return {
        "address": getattr(context, "address_info", {}).get("address"),
        "dashboard_url": context.dashboard_url or None,
        "joined": bool(target),
        "auth_mode": os.environ.get("RAY_AUTH_MODE", "ray default"),
    }


# -- PLACEMENT ------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFacts:
    """What placement needs to know of the connected cluster."""

    nodes: int
    resources: Mapping[str, float]
    driver_node_id: str | None = None
    node_ids: tuple[str, ...] = ()
    """The alive nodes, sorted (agents are dealt over them in this order)."""


def placement(
    kind: str,
    facts: ClusterFacts,
    *,
    gateway_resource: str = "gateway",
    index: int = 0,
    avoid: str | None = None,
) -> dict[str, Any]:
    """Return the Ray placement options of an actor of ``kind`` on the cluster ``facts`` describe.

    ``node_affinity`` stands for a hard node affinity (the caller builds Ray's strategy).
    Agents are dealt over the alive nodes in turn (the ``index``-th agent to the
    ``index mod n``-th node). Measured on a two-node ``ray start`` cluster, Ray's SPREAD and
    a soft node affinity both put every agent on one node in some runs, so the affinity is
    hard: Ray cannot restart an agent whose node died elsewhere, so the driver re-creates it
    over the nodes alive then (``replace_actor``; an agent's state is in the gateway).
    ``avoid``: a node an agent must not be dealt to when another is alive (the node a
    re-created agent was lost with: Ray may not have declared it dead yet).
    The paper venues live with the gateway, on the node advertising its resource.
    """
    if kind in ("gateway", "venue") and facts.resources.get(gateway_resource, 0) > 0:
        return {"resources": {gateway_resource: GATEWAY_RESOURCE_SHARE}}
    if kind == "agent":
        ids = [n for n in facts.node_ids if n != avoid] or list(facts.node_ids)
        if len(facts.node_ids) > 1:
            return {"node_affinity": ids[index % len(ids)]}
        return {"scheduling_strategy": "SPREAD"}
    if kind == "feed" and facts.nodes > 1 and facts.driver_node_id:
        return {"node_affinity": facts.driver_node_id}
    return {}


def cluster_facts() -> ClusterFacts | None:
    """Read the connected cluster's facts; None when Ray is not initialized (nothing to place)."""
    if not ray.is_initialized():
        return None
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    alive = sorted(str(node["NodeID"]) for node in nodes if node.get("Alive"))
    return ClusterFacts(
        nodes=len(alive),
        resources=dict(ray.cluster_resources()),  # type: ignore[no-untyped-call]
        driver_node_id=ray.get_runtime_context().get_node_id(),
        node_ids=tuple(alive),
    )


_agents_placed = 0


_placed_on: dict[str, str] = {}
"""Named actor -> the node its hard affinity chose (what a re-creation avoids)."""


def _ray_placement(kind: str, name: str) -> dict[str, Any]:
    global _agents_placed
    facts = cluster_facts()
    if facts is None:
        return {}
    options = placement(
        kind,
        facts,
        gateway_resource=_gateway_resource,
        index=_agents_placed,
        avoid=_avoid.pop(name, None),
    )
    if kind == "agent":
        _agents_placed += 1
    node = options.pop("node_affinity", None)
    if node is not None:
        _placed_on[name] = node
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
    return options


_gateway_resource = "gateway"
_avoid: dict[str, str] = {}  # named actor -> the node its next placement avoids (one use)


def set_gateway_resource(name: str) -> None:
    """Use ``name`` as the gateway node's custom resource (``[ray] gateway_resource``)."""
    global _gateway_resource
    _gateway_resource = name


def actor_options(kind: str, name: str, **overrides: Any) -> dict[str, Any]:
    """Return the Ray options of the named actor ``name`` of ``kind``; ``overrides`` win
    (e.g. ``resources``, ``scheduling_strategy``, ``lifetime`` for a cluster or a chaos run)."""
    policy = POLICIES[kind]
    options: dict[str, Any] = {
        "name": name,
        "num_cpus": policy.num_cpus,
        "max_restarts": policy.max_restarts,
        "max_concurrency": policy.max_concurrency,
    }
    if policy.lifetime:
        options["lifetime"] = policy.lifetime
    options.update(_ray_placement(kind, name))
    options.update(overrides)
    return options


def create_actor(
    kind: str,
    name: str,
    cls: type,
    *args: Any,
    ray_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Create the named actor ``name`` of ``kind`` from the plain class ``cls``
    (``ray_options`` overrides the kind's policy, see ``actor_options``)."""
    options = actor_options(kind, name, **(ray_options or {}))
    return ray.remote(**options)(cls).remote(*args, **kwargs)


NAME_FREED_WITHIN_S = 30.0
"""How long ``replace_actor`` waits for Ray to free the name of the actor it killed."""


def replace_actor(
    kind: str,
    name: str,
    cls: type,
    *args: Any,
    replacing: Any = None,
    ray_options: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Kill ``replacing`` for good (no restart) and create the named actor ``name`` again,
    placed over the nodes alive now; wait (bounded) for Ray to free the name."""
    import time

    if replacing is not None:
        try:
            ray.kill(replacing, no_restart=True)
        except ray.exceptions.RayError:
            pass  # already gone
    lost_on = _placed_on.get(name)
    deadline = time.monotonic() + NAME_FREED_WITHIN_S
    while True:
        if lost_on is not None:
            _avoid[name] = lost_on
        try:
            return create_actor(kind, name, cls, *args, ray_options=ray_options, **kwargs)
        except ValueError:  # "name already taken": the killed actor is not marked dead yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def placed_on() -> dict[str, str]:
    """Named actor -> the node its hard node affinity chose (the agents on a cluster)."""
    return dict(_placed_on)


def alive_node_ids() -> set[str]:
    """The ids of the cluster's alive nodes (empty when Ray is not initialized)."""
    if not ray.is_initialized():
        return set()
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return {str(node["NodeID"]) for node in nodes if node.get("Alive")}


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()
