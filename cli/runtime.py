"""Ray start-up and the one factory that turns plain classes into named actors.

Ray decorators are applied here only (``ray.remote(**options)(Cls)``), with each
actor's restart and concurrency policy, so the classes stay plain and testable.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import ray

from core.config import RayConfig

log = logging.getLogger(__name__)


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


def start_ray(
    config: RayConfig, *, address: str | None = None, dashboard: bool | None = None
) -> dict[str, Any]:
    """Start a local Ray (or join ``address``) in the config's namespace; return its context facts."""
    if ray.is_initialized():
        return {"address": ray.get_runtime_context().gcs_address, "joined": True}
    target = address if address is not None else config.address
    with_dashboard = config.dashboard if dashboard is None else dashboard
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    kwargs: dict[str, Any] = {
        "namespace": config.namespace,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if target:
        kwargs["address"] = target
    else:
        kwargs["include_dashboard"] = with_dashboard
        kwargs["dashboard_host"] = config.dashboard_host
    context = ray.init(**kwargs)
    return {
        "address": context.address_info.get("address"),
        "dashboard_url": context.dashboard_url or None,
    }


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


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()
