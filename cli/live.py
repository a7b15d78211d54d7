"""``python main.py live``: the gate in front of live trading; paper stays the default everywhere.

A live run is refused unless every condition holds, checked in this order,
each refusal naming the condition that failed:

1. the config says ``mode = "live"``;
2. ``SWARM_<VENUE>_API_KEY`` and ``_SECRET`` are set for every configured venue;
3. ``[live] account`` is set and ``SWARM_LIVE_ACK`` names exactly that account;
4. ``doctor`` passes (``cli.doctor``: in live, checks that cannot pass fail);
5. the operator confirms by typing the account name (or ``--confirm ACCOUNT``).

Keys are read from the environment only, never printed (only the variable
names are), and never passed as actor arguments.

Once armed (``run_live``): Ray starts (``cli.runtime.start_ray``), then the
``gateway`` with ``venue_kind = "ccxt"``: it builds its ``CcxtExchange`` venues
itself from the keys in its own environment, trades only the markets the
enabled agents name, and RESUMES the WAL in ``[state] dir``/``live`` (a live run
never starts a fresh one). It reconciles with the venues before accepting an
order; unless its breaker is CLOSED afterwards, no agent starts (exit 1). Then
the agents, the council, and the live public feed (``LiveFeed`` through a
``LiveBridge``, driven from this process: the ``feed`` actor's live source
needs paper venue actors). Budgets from the config are set only for agents the
gateway has none for (a resumed run keeps the council's).

Ctrl+C (or ``--duration``) stops in order: the agents (their open orders
canceled, fills settled), then the feed, then the gateway settles (last poll,
audit flush, ccxt clients closed) and is stopped. The summary is printed as
for paper.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.doctor import Check
from core.config import SwarmConfig, api_credentials
from core.errors import ConfigError, SecretMissing

ACK_VARIABLE = "SWARM_LIVE_ACK"
LIVE_STATE = "live"
"""The live WAL and audit store: ``[state] dir``/``live`` (doctor checks the same place)."""
LIVE_POLL_S = 1.0
"""Fill polling against a real venue: once a second, well inside every venue's rate limit."""
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Refusal:
    """Why live trading was refused: the condition and the message for the operator."""

    condition: str
    message: str


def live_gate(
    config: SwarmConfig,
    config_path: str,
    *,
    environ: Mapping[str, str],
    doctor: Callable[[], Sequence[Check]],
    confirm: str | None,
    ask: Callable[[str], str] | None,
) -> Refusal | None:
    """Return the first condition that fails (see the module doc), or None when armed.

    ``doctor`` runs only once the cheaper conditions hold; ``ask`` prompts the
    operator (None: not interactive, so ``confirm`` is required).
    """
    if config.mode != "live":
        return Refusal(
            "mode",
            f'{config_path}: mode = {config.mode!r}: live trading needs mode = "live" '
            "(copy configs/live.example.toml)",
        )
    for venue in config.paper.venues:
        try:
            api_credentials(venue, environ)
        except SecretMissing as exc:
            return Refusal("keys", f"{exc} (keys come from the environment only)")
    account = config.live.account
    if not account:
        return Refusal("account", f"{config_path}: [live] account is not set")
    ack = environ.get(ACK_VARIABLE)
    if ack != account:
        said = "is not set" if ack is None else f"is {ack!r}"
        return Refusal(
            "acknowledgement", f"{ACK_VARIABLE} {said}: it must name the account {account!r}"
        )
    failed = [c for c in doctor() if c.status == "fail"]
    if failed:
        lines = "; ".join(f"{c.name}: {c.reason}" for c in failed)
        return Refusal("doctor", f"doctor failed {len(failed)} checks: {lines}")
    if confirm is None:
        if ask is None:
            return Refusal(
                "confirmation",
                "no operator confirmation: stdin is not a terminal; pass --confirm ACCOUNT",
            )
        confirm = ask(f"Type the account name ({account}) to trade live with real money: ")
    if confirm.strip() != account:
        return Refusal("confirmation", f"the operator did not confirm the account {account!r}")
    return None


class CcxtProbe:
    """``VenueProbe`` over ``CcxtExchange`` with the environment's keys (network: live only)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def reachable(self, venue: str) -> str:
        from exchanges.ccxt_adapter import CcxtExchange

        async def load() -> int:
            exchange = CcxtExchange(venue, api_credentials(venue, self._environ))
            try:
                return len(await exchange.load_markets())
            finally:
                await exchange.close()

        return f"{asyncio.run(load())} markets"

    def can_withdraw(self, venue: str) -> bool | None:
        # ccxt has no unified call for a key's permissions: the venue cannot tell through it.
        return None


def run_live_command(args: Any, config: SwarmConfig, config_path: str) -> int:
    """``main.py live``: refuse with the failed condition (exit 2), or say the path is not wired."""
    from cli.doctor import connect_cluster, print_checks, run_checks

    address = args.address or config.ray.address

    def doctor() -> Sequence[Check]:
        def cluster() -> tuple[Any, Any, Any]:
            return connect_cluster(address, config.ray.namespace, config.paper.venues)

        checks = run_checks(
            config,
            config_path,
            mode="live",
            probe=CcxtProbe(os.environ),
            cluster=cluster if address else None,
        )
        print_checks(checks)
        return checks

    ask = input if sys.stdin.isatty() else None
    refusal = live_gate(
        config, config_path, environ=os.environ, doctor=doctor, confirm=args.confirm, ask=ask
    )
    if refusal is not None:
        print(f"live refused ({refusal.condition}): {refusal.message}", file=sys.stderr)
        return 2
    return run_live(args, config, config_path)


# -- THE LIVE SYSTEM -----------------------------------------------------------


def live_state_dir(config: SwarmConfig) -> Path:
    """Return the live WAL's directory, ``[state] dir``/``live`` (relative: from the project root)."""
    base = Path(config.state.dir)
    return (base if base.is_absolute() else ROOT / base) / LIVE_STATE


def live_markets(
    config: SwarmConfig, agents: Mapping[str, Any], config_path: str
) -> dict[str, tuple[str, ...]]:
    """Return per configured venue the symbols the enabled agents trade.

    An agent trading on a venue that ``[paper] venues`` does not list is a
    ``ConfigError`` (the gateway would hold no client, and no keys were checked, for it).
    """
    from exchanges.feeds.subscriptions import live_subscriptions

    symbols: dict[str, list[str]] = {venue: [] for venue in config.paper.venues}
    for venue, symbol in live_subscriptions(agents):
        if venue not in symbols:
            raise ConfigError(
                config_path,
                "paper.venues",
                list(config.paper.venues),
                f"an enabled agent trades {symbol} on {venue}, which is not listed",
            )
        symbols[venue].append(symbol)
    return {venue: tuple(names) for venue, names in symbols.items()}


def live_gateway_settings(config: SwarmConfig, agents: Mapping[str, Any], config_path: str) -> Any:
    """Return the live gateway's ``GatewaySettings`` (no secret in them: keys stay in the env)."""
    from gateway.actor import GatewaySettings, tuning_of
    from risk.limits import RiskLimits

    g = config.gateway
    engine_config, checkpoints = tuning_of(g)
    return GatewaySettings(
        engine=engine_config,
        checkpoints=checkpoints,
        state_dir=str(live_state_dir(config)),
        venues=tuple(config.paper.venues),
        limits=RiskLimits(
            max_order_notional=g.max_order_notional,
            max_position_notional=g.max_position_notional,
            max_orders_per_window=g.max_orders_per_minute,
            price_band_bps=g.price_band_bps,
        ),
        venue_kind="ccxt",
        symbols=live_markets(config, agents, config_path),
        poll_interval_s=LIVE_POLL_S,
    )


def start_live_trading(
    config: SwarmConfig, agents: Mapping[str, Any], settings: Any, create_actor: Any
) -> tuple[Any, dict[str, Any]]:
    """Start the ccxt gateway (it resumes its WAL) and, once its breaker is CLOSED, the agents.

    Raise ``HaltError`` when the gateway halted or its breaker is not CLOSED after
    recovery (a reconciliation mismatch): no agent is started then.
    """
    from agents.actor import AgentActor
    from core.errors import HaltError
    from exchanges.venue_client import EventPusher
    from gateway.actor import GatewayActor
    from gateway.client import GatewayClient

    create_actor("gateway", "gateway", GatewayActor, settings)
    gateway = GatewayClient(deadline_s=120)
    status = gateway.wait_ready(180)
    if status.get("breaker") != "closed":
        raise HaltError(
            f"the live gateway's breaker is {status.get('breaker')} after recovery"
            f" ({status.get('error') or (status.get('stats') or {}).get('recovery')}):"
            " no agent started; read the WAL, fix the cause, reset with main.py control"
        )
    held = {agent_id: view.budget for agent_id, view in gateway.snapshot().agents.items()}
    fresh = {a: spec.budget for a, spec in agents.items() if not held.get(a)}
    if fresh:
        gateway.set_budgets(fresh)
    pushers = {
        agent_id: EventPusher(
            agent_id,
            create_actor(
                "agent",
                f"agent:{agent_id}",
                AgentActor,
                spec.kind,
                {"agent_id": agent_id, **spec.config},
            ),
        )
        for agent_id, spec in agents.items()
    }
    return gateway, pushers


def pump_live(
    bridge: Any,
    pushers: Mapping[str, Any],
    gateway: Any,
    council: Any,
    *,
    batch_size: int,
    max_in_flight: int,
    duration_s: float | None,
    monotonic: Callable[[], float],
) -> dict[str, Any]:
    """Push the live feed's batches to the agents, marking the gateway and ticking the council.

    Return when the feed ends or ``duration_s`` has passed; Ctrl+C propagates to the caller.
    """
    from exchanges.feeds.actor import marks_of

    started = monotonic()
    events = 0
    market_ns = 0
    while duration_s is None or monotonic() - started < duration_s:
        batch = bridge.next_batch(batch_size, 0.2, 0.5)
        if batch is None:
            return {"stopped_by": "end of data", "events": events}
        if not batch:
            continue
        batch.sort(key=lambda event: event.ts_ns)
        market_ns = max(market_ns, batch[-1].ts_ns)
        prices = marks_of(batch)
        if prices:
            gateway.mark(prices)
        for pusher in pushers.values():
            pusher.push(batch, max_in_flight)
        if council is not None:
            council.tick(market_ns)
        events += len(batch)
    return {"stopped_by": "duration", "events": events}


def run_live(args: Any, config: SwarmConfig, config_path: str) -> int:
    """Run the armed live system until Ctrl+C (or ``--duration``); print the summary."""
    import json
    import time

    from cli.alerts import start_alerts
    from cli.paper import enabled_agents, finish_trading, start_council
    from cli.runtime import create_actor, shutdown_ray, start_ray
    from core.clock import RealClock
    from core.errors import HaltError
    from exchanges.feeds.bridge import LiveBridge
    from exchanges.feeds.live import LiveFeed
    from exchanges.feeds.subscriptions import live_subscriptions

    agents = enabled_agents(config, config_path)
    if not agents:
        print("live refused (agents): no enabled agent in the config", file=sys.stderr)
        return 2
    settings = live_gateway_settings(config, agents, config_path)
    start_ray(config.ray, address=args.address, dashboard=getattr(args, "dashboard", None))
    bridge = None
    cockpit = None
    alerts = start_alerts(config)
    summary: dict[str, Any] = {"mode": "live", "state_dir": settings.state_dir}
    try:
        try:
            gateway, pushers = start_live_trading(config, agents, settings, create_actor)
        except HaltError as exc:
            print(f"live halted: {exc}", file=sys.stderr)
            _stop_gateway()
            return 1
        council = start_council(config, agents, create_actor)
        bridge = LiveBridge(
            LiveFeed(live_subscriptions(agents), clock=RealClock()),
            queue_size=10_000,
        )
        bridge.start()
        if config.cockpit.enabled or alerts is not None:
            from cli.cockpit.server import start_cockpit

            cockpit = start_cockpit(
                config,
                gateway=gateway,
                council=council,
                agent_handles={name: p.handle for name, p in pushers.items()},
                mode="live",
                alerts=alerts,
                serve=config.cockpit.enabled,
            )
            if cockpit.url:  # the one place the token is written: the operator's URL
                print(f"dashboard: {cockpit.url}", file=sys.stderr, flush=True)
        print(f"live: trading {settings.symbols} (Ctrl+C stops)", file=sys.stderr)
        try:
            summary.update(
                pump_live(
                    bridge,
                    pushers,
                    gateway,
                    council,
                    batch_size=config.replay.batch_size,
                    max_in_flight=config.replay.max_in_flight_batches,
                    duration_s=getattr(args, "duration", None),
                    monotonic=time.monotonic,
                )
            )
        except KeyboardInterrupt:
            summary["stopped_by"] = "ctrl+c"
            print(
                "stopping: agents (orders canceled), then the feed, then the gateway",
                file=sys.stderr,
            )
        summary.update(finish_trading(gateway, pushers))  # agents first: their orders canceled
        bridge.close()  # then the feed
        bridge = None
        summary["gateway_settled"] = _stop_gateway()  # then the gateway settles
    finally:
        if cockpit is not None:
            cockpit.stop()
        if alerts is not None:
            alerts.close()
        if bridge is not None:
            bridge.close()
        shutdown_ray()
    print(json.dumps(summary, default=str, sort_keys=True))
    return 0


def _stop_gateway() -> dict[str, int] | None:
    """Let the gateway settle (last poll, audit flush, ccxt clients closed), then stop it."""
    import ray

    try:
        handle = ray.get_actor("gateway")
    except ValueError:
        return None
    try:
        settled: Any = ray.get(handle.shutdown.remote(), timeout=60)
        return dict(settled)
    finally:
        ray.kill(handle, no_restart=True)
