"""``python main.py doctor``: the pre-trading checklist, each line pass, fail or skip with its reason.

Checks, in order:

- ``risk limits``: the gateway's caps are set and coherent (in live, the
  config file must state its ``[gateway]`` section: defaults are not a choice);
- ``replay data`` (paper with the replay feed): the data directory holds
  files the feed can read, and the first event parses;
- ``state dir writable``: where the next WAL goes: a probe file is created,
  fsynced and removed; a directory marked read-only (mode bits or a read-only
  mount) fails even for root, which could write through the bits;
- ``WAL readable``: the latest run's WAL replays from sequence 1 without
  changing it (a torn tail is reported, not truncated); ``WAL dir writable``;
- ``audit store``: the latest run's ``audit.duckdb`` opens read-only;
- ``keys`` (live): ``SWARM_<VENUE>_API_KEY``/``_SECRET`` set for every venue;
- ``venues reachable`` and ``no withdrawal rights`` (live): through the
  ``VenueProbe`` port (ccxt in live, a stub in tests); a venue that cannot
  tell its key's rights is a skip, not a pass;
- ``Ray versions``: the local one, and every node's when ``--address`` joins
  a cluster;
- ``dashboard on loopback``: ``ray.dashboard_host`` is 127.0.0.1/localhost/::1;
- ``breaker CLOSED``, ``positions reconciled``, ``no orphaned orders``: asked
  of the running gateway when ``--address`` reaches one; otherwise skipped
  (in live: the gateway reconciles at start and halts on a mismatch, so
  ``main.py live`` checks them itself before any agent starts).

In live the WAL checked is the live one, ``[state] dir``/``live`` (a live run
resumes it; it never starts a fresh one).

Exit 0 when nothing failed, 1 otherwise. Live runs this first and refuses to
trade on a failure (``cli.live``).
"""

from __future__ import annotations

import asyncio
import os
import stat
import tomllib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from core.config import SwarmConfig, api_credentials
from core.errors import SecretMissing

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
LIVE_STATE = "live"
"""The live WAL and audit store live in ``[state] dir``/``live`` (``cli.live``)."""
Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    name: str
    status: Status
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "reason": self.reason}


class VenueProbe(Protocol):
    """What doctor asks a live venue: reachable? may this key withdraw (None: cannot tell)?"""

    def reachable(self, venue: str) -> str:
        """Return a short description of the answer; raise on any failure."""
        ...

    def can_withdraw(self, venue: str) -> bool | None: ...


# -- FILES ------------------------------------------------------------------


def _read_only_reason(path: Path) -> str | None:
    """Why ``path`` is read-only (mode bits or mount), or None."""
    info = path.stat()
    if not info.st_mode & stat.S_IWUSR:
        return f"marked read-only (mode {stat.S_IMODE(info.st_mode):04o})"
    if os.statvfs(path).f_flag & os.ST_RDONLY:
        return "on a read-only mount"
    return None


def check_dir_writable(name: str, path: Path) -> Check:
    """Pass if a file can be created, fsynced and removed in ``path`` (or its nearest parent)."""
    target = path
    while not target.exists():
        if target.parent == target:
            return Check(name, "fail", f"{path}: no existing parent directory")
        target = target.parent
    if not target.is_dir():
        return Check(name, "fail", f"{target}: not a directory")
    where = str(path) if target == path else f"{path} (to be created in {target})"
    reason = _read_only_reason(target)
    if reason:
        return Check(name, "fail", f"{target}: {reason}")
    probe = target / f".doctor-{uuid.uuid4().hex}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"swarm doctor")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        return Check(name, "fail", f"{target}: cannot write: {exc.strerror or exc}")
    return Check(name, "pass", f"{where}: writable")


def latest_run(state_dir: Path) -> Path | None:
    """Return the newest ``run-*`` directory of a paper state dir, or the dir itself if it has a WAL."""
    if (state_dir / "wal").is_dir():
        return state_dir
    runs = sorted(p for p in state_dir.glob("run-*") if p.is_dir()) if state_dir.is_dir() else []
    return runs[-1] if runs else None


def check_wal(wal_dir: Path) -> list[Check]:
    """Replay the WAL read-only from sequence 1 (retired segments from ``wal-archive``); check
    its directory is writable. A log whose retired segments were deleted is read from the
    oldest kept checkpoint on."""
    from gateway.checkpoint import ArchiveDisk, CheckpointStore
    from gateway.disk import OsDisk
    from gateway.wal import Wal

    try:
        wal = Wal(wal_dir, disk=ArchiveDisk(wal_dir, wal_dir.parent / "wal-archive"))
        kept = CheckpointStore(OsDisk(wal_dir)).sequences()
        first = wal_dir / "wal-00000001.log"
        archived = wal_dir.parent / "wal-archive" / first.name
        start = kept[0] if kept and not first.exists() and not archived.exists() else 0
        count = sum(1 for _ in wal.replay(after_seq=start))
        torn = wal.report is not None and wal.report.torn_bytes > 0
        note = " (a torn last record, the gateway truncates it on start)" if torn else ""
        readable = Check("WAL readable", "pass", f"{wal_dir}: {count} records{note}")
    except Exception as exc:
        readable = Check("WAL readable", "fail", f"{wal_dir}: {type(exc).__name__}: {exc}")
    return [readable, check_dir_writable("WAL dir writable", wal_dir)]


def check_audit_store(db_path: Path) -> Check:
    if not db_path.exists():
        return Check("audit store", "skip", f"{db_path}: none yet (the gateway creates it)")
    try:
        import duckdb

        con = duckdb.connect(str(db_path), read_only=True)
        try:
            (rows,) = con.execute("SELECT count(*) FROM wal_records").fetchone() or (0,)
        finally:
            con.close()
    except Exception as exc:
        return Check("audit store", "fail", f"{db_path}: {type(exc).__name__}: {exc}")
    return Check("audit store", "pass", f"{db_path}: opens, {rows} WAL records projected")


def check_replay_data(data_dir: str) -> Check:
    from cli.paper import resolve_data_dir
    from exchanges.feeds.replay import ReplayFeed

    try:
        path = resolve_data_dir(data_dir)
        feed = ReplayFeed(path)
        files = [f for f in feed.files() if f.selected]
        if not files:
            return Check("replay data", "fail", f"{path}: no file the feed can read")
        first = next(iter(feed), None)
        if first is None:
            return Check("replay data", "fail", f"{path}: {len(files)} files but no event")
    except Exception as exc:
        return Check("replay data", "fail", f"{data_dir}: {type(exc).__name__}: {exc}")
    return Check("replay data", "pass", f"{path}: {len(files)} files, first event readable")


# -- CONFIG, KEYS, VENUES ---------------------------------------------------


def check_risk_limits(config: SwarmConfig, raw: Mapping[str, Any], live: bool) -> Check:
    g = config.gateway
    caps = (
        f"max order {g.max_order_notional}, max position {g.max_position_notional}, "
        f"{g.max_orders_per_minute} orders/min, band {g.price_band_bps} bps"
    )
    if live and "gateway" not in raw:
        return Check(
            "risk limits", "fail", "no [gateway] section: set the caps for live explicitly"
        )
    if g.max_order_notional <= 0 or g.max_position_notional <= 0 or g.price_band_bps <= 0:
        return Check("risk limits", "fail", f"every cap must be > 0: {caps}")
    if g.max_order_notional > g.max_position_notional:
        return Check("risk limits", "fail", f"max order above max position: {caps}")
    budgets = sum((a.budget for a in config.agents.values() if a.enabled), Decimal(0))
    return Check("risk limits", "pass", f"{caps}; agent budgets {budgets}")


def check_keys(venues: Sequence[str], environ: Mapping[str, str]) -> Check:
    missing = []
    for venue in venues:
        try:
            api_credentials(venue, environ)
        except SecretMissing as exc:
            missing.append(str(exc))
    if missing:
        return Check("keys", "fail", "; ".join(missing))
    return Check("keys", "pass", f"present for {', '.join(venues)} (values not shown)")


def check_venues(venues: Sequence[str], probe: VenueProbe) -> list[Check]:
    reach: list[str] = []
    failures: list[str] = []
    rights: list[Check] = []
    for venue in venues:
        try:
            reach.append(f"{venue}: {probe.reachable(venue)}")
        except Exception as exc:
            failures.append(f"{venue}: {type(exc).__name__}: {exc}")
            continue
        withdraw = probe.can_withdraw(venue)
        if withdraw is None:
            rights.append(Check(f"no withdrawal rights ({venue})", "skip", "the venue cannot tell"))
        elif withdraw:
            rights.append(
                Check(
                    f"no withdrawal rights ({venue})",
                    "fail",
                    "this key may withdraw: use a trade-only key",
                )
            )
        else:
            rights.append(Check(f"no withdrawal rights ({venue})", "pass", "trade-only key"))
    reachable = (
        Check("venues reachable", "fail", "; ".join(failures))
        if failures
        else Check("venues reachable", "pass", "; ".join(reach))
    )
    return [reachable, *rights]


# -- RAY --------------------------------------------------------------------


def check_ray_versions(local: str, nodes: Sequence[Mapping[str, Any]] | None) -> Check:
    if nodes is None:
        return Check("Ray versions", "pass", f"local {local} (no cluster joined)")
    versions: dict[str, str] = {}
    for node in nodes:
        if not node.get("Alive", True):
            continue
        labels = node.get("Labels") or {}
        version = str(node.get("RayVersion") or labels.get("ray.io/ray-version") or "unknown")
        versions[str(node.get("NodeManagerAddress") or node.get("NodeID"))] = version
    odd = {n: v for n, v in versions.items() if v != local}
    if odd:
        listed = ", ".join(f"{n}: {v}" for n, v in sorted(odd.items()))
        return Check("Ray versions", "fail", f"driver {local}, but {listed}")
    return Check("Ray versions", "pass", f"{local} on {len(versions)} nodes")


def check_dashboard(config: SwarmConfig) -> Check:
    host = config.ray.dashboard_host
    if host in LOOPBACK:
        return Check("dashboard on loopback", "pass", f"ray.dashboard_host = {host}")
    return Check(
        "dashboard on loopback",
        "fail",
        f"ray.dashboard_host = {host}: the job API would be reachable from the network",
    )


def running_checks(gateway: Any, venues: Mapping[str, Any]) -> list[Check]:
    """Breaker, reconciliation and orphans of a running system (``gateway``: a GatewayClient;
    ``venues``: name -> an async venue port such as ``RemoteVenue``)."""
    status = gateway.status()
    breaker = str(status.get("breaker"))
    checks = [
        Check("breaker CLOSED", "pass" if breaker == "closed" else "fail", f"breaker is {breaker}")
    ]
    if not status.get("ready"):
        reason = status.get("error") or "gateway still recovering"
        return [*checks, Check("positions reconciled", "fail", str(reason))]
    snapshot = gateway.snapshot()
    unreconciled = sorted(set(venues) - set(snapshot.reconciled_venues))
    ours = {o.client_order_id for o in snapshot.orders}
    mismatches: list[str] = []
    orphans: list[str] = []
    for name, venue in venues.items():
        positions, open_orders = asyncio.run(_venue_state(venue))
        expected = snapshot.venues.get(name)
        mirror = dict(expected.positions) if expected else {}
        for symbol in sorted(set(positions) | {k for k, v in mirror.items() if v}):
            if positions.get(symbol, Decimal(0)) != mirror.get(symbol, Decimal(0)):
                mismatches.append(
                    f"{name} {symbol}: venue {positions.get(symbol, 0)}, "
                    f"gateway {mirror.get(symbol, 0)}"
                )
        orphans += [
            f"{name}:{o.client_order_id}"
            for o in open_orders
            if o.client_order_id
            and o.client_order_id.startswith("sw")
            and o.client_order_id not in ours
        ]
    if unreconciled or mismatches:
        detail = "; ".join([*(f"{v}: not reconciled" for v in unreconciled), *mismatches])
        checks.append(Check("positions reconciled", "fail", detail))
    else:
        checks.append(Check("positions reconciled", "pass", f"{len(venues)} venues agree"))
    unknown = sum(1 for o in snapshot.orders if str(o.state) == "unknown")
    if orphans:
        checks.append(Check("no orphaned orders", "fail", f"not in the WAL: {', '.join(orphans)}"))
    else:
        checks.append(
            Check(
                "no orphaned orders",
                "pass",
                f"every open order is ours ({unknown} unknown, tracked)",
            )
        )
    return checks


async def _venue_state(venue: Any) -> tuple[dict[str, Decimal], list[Any]]:
    positions: dict[str, Decimal] = {}
    for p in await venue.fetch_positions():
        sign = Decimal(-1) if str(p.side) == "short" else Decimal(1)
        positions[p.symbol] = positions.get(p.symbol, Decimal(0)) + sign * p.contracts
    return positions, list(await venue.fetch_open_orders())


# -- THE CHECKLIST ----------------------------------------------------------


def run_checks(
    config: SwarmConfig,
    config_path: str,
    *,
    mode: str | None = None,
    feed: str = "replay",
    data: str | None = None,
    environ: Mapping[str, str] | None = None,
    probe: VenueProbe | None = None,
    cluster: Callable[[], tuple[list[Mapping[str, Any]] | None, Any, Mapping[str, Any]]]
    | None = None,
) -> list[Check]:
    """Return the checklist for ``config`` (see the module doc).

    ``cluster()`` returns (Ray nodes, a gateway client or None, venue ports) of
    a running system; None when no ``--address`` was given.
    """
    import ray

    env = os.environ if environ is None else environ
    live = (mode or config.mode) == "live"
    try:
        raw = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except OSError:
        raw = {}
    checks = [check_risk_limits(config, raw, live)]
    if live:
        checks.append(check_keys(config.paper.venues, env))
        if probe is None:
            checks.append(Check("venues reachable", "fail", "no venue probe available"))
        elif checks[-1].status == "pass":
            checks += check_venues(config.paper.venues, probe)
        else:
            checks.append(Check("venues reachable", "skip", "no keys"))
    elif feed == "replay":
        checks.append(check_replay_data(data or config.paper.data_dir))
    else:
        checks.append(Check("replay data", "skip", "--feed live: public data, no keys needed"))
    state_dir = Path(config.state.dir)
    if not state_dir.is_absolute():
        state_dir = ROOT / state_dir
    checks.append(check_dir_writable("state dir writable", state_dir))
    run = latest_run(state_dir / LIVE_STATE if live else state_dir)
    if run is None:
        checks.append(Check("WAL readable", "skip", f"{state_dir}: no previous run"))
        checks.append(Check("audit store", "skip", f"{state_dir}: no previous run"))
    else:
        checks += check_wal(run / "wal")
        checks.append(check_audit_store(run / "audit.duckdb"))
    nodes, gateway, venues = cluster() if cluster is not None else (None, None, {})
    checks.append(check_ray_versions(ray.__version__, nodes))
    checks.append(check_dashboard(config))
    if gateway is not None:
        checks += running_checks(gateway, venues)
    else:
        reason = (
            "skip: the gateway reconciles at start and halts on a mismatch"
            if live
            else "no running system (give --address to check one)"
        )
        for name in ("breaker CLOSED", "positions reconciled", "no orphaned orders"):
            checks.append(Check(name, "skip", reason))
    return checks


def exit_code(checks: Sequence[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0


def connect_cluster(
    address: str, namespace: str, venues: Sequence[str]
) -> tuple[list[Mapping[str, Any]] | None, Any, Mapping[str, Any]]:
    """Join ``address``; return its nodes, the gateway's client (or None) and its venue ports."""
    import ray

    from cli.runtime import start_ray
    from core.config import RayConfig
    from exchanges.venue_client import RemoteVenue
    from gateway.client import GatewayClient

    start_ray(RayConfig(namespace=namespace), address=address)
    nodes = [dict(n, RayVersion=_node_version(n)) for n in ray.nodes() if n.get("Alive")]
    try:
        gateway = GatewayClient(namespace=namespace, deadline_s=10)
    except ValueError:
        return nodes, None, {}
    ports: dict[str, Any] = {}
    for name in venues:
        try:
            ports[name] = RemoteVenue(name, ray.get_actor(f"venue:{name}", namespace=namespace))
        except ValueError:
            continue
    return nodes, gateway, ports


def _ray_version() -> str:
    import ray

    return str(ray.__version__)


def _node_version(node: Mapping[str, Any], timeout_s: float = 20.0) -> str:
    """Ask ``node`` its Ray version with a zero-CPU task pinned there ("unknown" if it cannot)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # A one-off probe, not an actor: cli.runtime's factory is for the system's named actors.
    probe = ray.remote(
        num_cpus=0,
        max_retries=0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
    )(_ray_version)
    try:
        return str(ray.get(probe.remote(), timeout=timeout_s))
    except Exception:
        return "unknown"


def print_checks(checks: Sequence[Check]) -> None:
    marks = {"pass": "PASS", "fail": "FAIL", "skip": "skip"}
    for check in checks:
        print(f"{marks[check.status]:4}  {check.name}: {check.reason}")


def run_doctor_command(args: Any, config: SwarmConfig, config_path: str) -> int:
    """``main.py doctor``: print the checklist; exit 1 if any check failed."""
    import json

    address = args.address or config.ray.address

    def cluster() -> tuple[list[Mapping[str, Any]] | None, Any, Mapping[str, Any]]:
        return connect_cluster(address, config.ray.namespace, config.paper.venues)

    probe = None
    if config.mode == "live":
        from cli.live import CcxtProbe

        probe = CcxtProbe(os.environ)
    try:
        checks = run_checks(
            config,
            config_path,
            feed=getattr(args, "feed", "replay") or "replay",
            data=getattr(args, "data", None),
            probe=probe,
            cluster=cluster if address else None,
        )
    finally:
        if address:
            from cli.runtime import shutdown_ray

            shutdown_ray()
    if args.json:
        print(json.dumps({"ok": exit_code(checks) == 0, "checks": [c.as_dict() for c in checks]}))
    else:
        print_checks(checks)
    return exit_code(checks)
