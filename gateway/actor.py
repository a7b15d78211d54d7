"""The ``gateway`` actor: the only order path of Swarm, a thin async shell over ``GatewayService``.

Contract (callers use ``gateway.client.GatewayClient``; no one else calls ``.remote()``):

- ``submit(intent)`` / ``submit_many(intents)`` → ``SubmitResult`` per intent: the
  order's current view, or a typed denial (nothing reserved then). Idempotent:
  the same intent again returns the same order and sends nothing; the same ids
  with other parameters are an ``IdempotencyConflict`` denial.
- ``cancel(agent_id, intent_id)``: cancels, or leaves a tombstone when the
  submit has not arrived yet (Ray may reorder calls across a restart), so the
  late submit is refused.
- ``set_budgets``, ``mark``, ``kill``, ``reset``: logged to the WAL before they
  take effect.
- ``snapshot()``, ``order()``, ``status()``: read-only views.

Idempotency and ordering: every method is safe to call twice, and no method
relies on the order of calls (RAY-NOTES.md: with retries Ray may run a call twice
and reorder calls after a restart).

Venues (``GatewaySettings.venue_kind``): ``paper`` talks to the ``venue:<name>``
actors; ``ccxt`` (live) builds one ``CcxtExchange`` per venue inside this
process from ``SWARM_<VENUE>_*`` in the actor's own environment
(``build_ccxt_venues``): keys are never actor arguments, never in the settings,
the WAL, the audit store or a log line. ``shutdown()`` stops polling, flushes
the audit store and closes the ccxt clients.

When it dies: Ray restarts it (detached, ``max_restarts=-1``) and the
constructor starts recovery at once: restore the newest engine checkpoint that reads
and replay the WAL after it (``gateway.checkpoint``; a torn tail is truncated),
ask the venues about every order without a final answer (by client order id,
never by resending), reconcile balances and positions, and only then accept
orders. Calls that arrive earlier get ``GatewayNotReady`` (retry). A corrupt WAL
keeps the gateway halted with the error in ``status()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from core.clock import RealClock, SimulatedClock
from core.config import ConfigModel, GatewayConfig, api_credentials
from core.errors import ConfigError, GatewayNotReady, HaltError, InvalidValue
from core.events import FundingPayment
from core.models import Market, Trade
from gateway.checkpoint import Checkpointer, CheckpointSettings, CheckpointStore
from gateway.crashpoints import CrashPoints
from gateway.disk import OsDisk
from gateway.engine import GatewayEngine
from gateway.engine_types import EngineConfig, EngineSnapshot
from gateway.intents import OrderIntent
from gateway.orders import OrderView
from gateway.service import AgentAccount, GatewayService, SubmitResult
from gateway.wal import Wal
from risk.checks import Denial
from risk.limits import RiskLimits

log = logging.getLogger(__name__)


class GatewaySettings(ConfigModel):
    """What the gateway actor needs; never holds a secret (keys come from the environment)."""

    state_dir: str
    venues: tuple[str, ...]
    limits: RiskLimits = RiskLimits()
    engine: EngineConfig = EngineConfig()
    poll_interval_s: float | None = Field(default=0.05, gt=0)
    """Background polling of fills and unresolved orders; None: only when ``poll`` is called (lockstep)."""
    clock: Literal["real", "market"] = "real"
    """``market``: time is the replay's, set by the feed through ``set_time`` (lockstep replays)."""
    venue_timeout_s: float = Field(default=5.0, gt=0)
    audit: bool = True
    audit_flush_s: float = Field(default=1.0, gt=0)
    """How often the audit projection is written (bigger batches cost the order path less)."""
    venue_kind: Literal["paper", "ccxt"] = "paper"
    """``paper``: the ``venue:<name>`` actors; ``ccxt``: real venues through ``CcxtExchange``."""
    sandbox: bool = False
    """ccxt only: use each venue's testnet (``set_sandbox_mode``)."""
    ccxt_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """ccxt only: non-secret ccxt options per venue, e.g. ``{"binance": {"defaultType": "future"}}``
    (the account scope: Binance keeps spot and USDⓈ-M futures in separate wallets)."""
    symbols: dict[str, tuple[str, ...]] | None = None
    """Per venue, trade only these unified symbols (None: every market the venues list). A live
    venue lists thousands and recovery fetches a ticker per market, so live runs name theirs."""
    checkpoints: CheckpointSettings | None = CheckpointSettings()
    """Engine checkpoints and what becomes of the WAL behind them (None: replay the whole log)."""

    @field_validator("ccxt_options")
    @classmethod
    def _no_secret_options(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Refuse a credential smuggled in as a ccxt option: keys come from the environment only.

        A ``ConfigError`` (not a ``ValueError``) so that pydantic does not wrap it in an
        error message that repeats the input, secret included.
        """
        for venue, options in value.items():
            for key in options:
                if key.lower() in _CREDENTIAL_OPTIONS:
                    raise ConfigError(
                        "GatewaySettings",
                        f"ccxt_options.{venue}.{key}",
                        "<redacted>",
                        "credentials come from SWARM_<VENUE>_* in the environment only",
                    )
        return value


def tuning_of(g: GatewayConfig) -> tuple[EngineConfig, CheckpointSettings]:
    """Return the engine's retention and the checkpoint settings a run's ``[gateway]`` asks for."""
    ns = 1_000_000_000
    engine = EngineConfig(
        terminal_order_retention_ns=int(g.order_retention_s * ns) if g.order_retention_s else None,
        idempotency_retention_ns=int(g.idempotency_retention_s * ns)
        if g.idempotency_retention_s
        else None,
        trade_id_retention_ns=int(g.trade_id_retention_s * ns) if g.trade_id_retention_s else None,
    )
    checkpoints = CheckpointSettings(
        every_records=g.checkpoint_every_records,
        every_s=g.checkpoint_every_s,
        retire=g.retire_segments,
    )
    return engine, checkpoints


_CREDENTIAL_OPTIONS = frozenset(
    {"apikey", "secret", "password", "uid", "login", "token", "privatekey", "walletaddress"}
)

ClientFactory = Callable[[str, dict[str, Any]], Any]
"""Build a ccxt client from its id and config (``CcxtExchange``'s seam; tests stub the transport)."""


def build_ccxt_venues(
    settings: GatewaySettings,
    environ: Mapping[str, str] | None = None,
    *,
    client_factory: ClientFactory | None = None,
) -> dict[str, Any]:
    """Return one ``CcxtExchange`` per venue of ``settings``, keyed by venue, with the keys of
    ``environ`` (default: this process's environment). ``SecretMissing`` names a missing variable."""
    from exchanges.ccxt_adapter import CcxtExchange

    env = os.environ if environ is None else environ
    venues: dict[str, Any] = {}
    for name in settings.venues:
        venues[name] = CcxtExchange(
            name,
            api_credentials(name, env),
            sandbox=settings.sandbox,
            ccxt_options=settings.ccxt_options.get(name),
            client_factory=client_factory,
        )
    return venues


def select_markets(
    venue: str, markets: Mapping[str, Market], symbols: Mapping[str, tuple[str, ...]] | None
) -> dict[str, Market]:
    """Return the markets of ``venue`` the gateway trades (all of them when ``symbols`` is None).

    A wanted symbol the venue does not list is an ``InvalidValue`` naming it (a halt: the
    agents would trade a market the gateway cannot check).
    """
    if symbols is None:
        return dict(markets)
    wanted = symbols.get(venue, ())
    missing = [s for s in wanted if s not in markets]
    if missing:
        raise InvalidValue(f"symbols.{venue}", missing, f"{venue} does not list them")
    return {s: markets[s] for s in wanted}


# -- LIVE ACCOUNTS: TRADES FROM BEFORE SWARM ------------------------------------

ACCOUNT_START_FILE = "account-start"


def account_start_ms(state_dir: Path, now_ns: int) -> int:
    """Return when this gateway first took over the account (ms), recording it on the first start.

    A live account has a trade history from before Swarm; the first reconciliation adopts
    its balances and positions, so those trades are already in the books. Fetched as fills
    they would be booked again as someone else's trades and trip the breaker. The time is
    fsynced to ``state_dir/account-start`` before the first poll and read back after a restart.
    """
    path = state_dir / ACCOUNT_START_FILE
    if path.exists():
        text = path.read_text(encoding="utf-8").strip()
        try:
            return int(text)
        except ValueError:
            raise InvalidValue(str(path), text, "must hold the start time in ms") from None
    start_ms = now_ns // 1_000_000
    with path.open("w", encoding="utf-8") as handle:
        handle.write(f"{start_ms}\n")
        handle.flush()
        os.fsync(handle.fileno())
    directory = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return start_ms


class TradesSince:
    """An ``Exchange`` that reports only the trades from ``since_ms`` on; every other call passes.

    Wraps a live venue (see ``account_start_ms``): the gateway's fill polling then starts
    where the adopted books end instead of at the start of the account's history.
    """

    def __init__(self, venue: Any, since_ms: int) -> None:
        self._venue = venue
        self.since_ms = since_ms

    def __getattr__(self, name: str) -> Any:
        return getattr(self._venue, name)

    @property
    def venue(self) -> str:
        return str(self._venue.venue)

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        start = self.since_ms if since is None else max(since, self.since_ms)
        trades: list[Trade] = await self._venue.fetch_my_trades(symbol, start, limit)
        return [t for t in trades if t.timestamp >= self.since_ms]


def _die(point: str) -> None:
    """End the process like a SIGKILL would: no cleanup, no flush, Ray restarts the actor."""
    log.error("crash point %s fired: exiting", point)
    os._exit(17)


class GatewayActor:
    """See the module doc. Recovery starts in the constructor, on the actor's event loop."""

    def __init__(
        self, settings: GatewaySettings, *, ccxt_client_factory: ClientFactory | None = None
    ) -> None:
        """``ccxt_client_factory``: tests only, a ccxt client whose transport is stubbed."""
        self._settings = settings
        self._client_factory = ccxt_client_factory
        self._venues: dict[str, Any] = {}
        self._service: GatewayService | None = None
        self._error: str | None = None
        self._crash = CrashPoints(on_fire=_die)
        self._started_ns = time.time_ns()
        self._ready_ns: int | None = None
        self._audit: Any = None
        loop = asyncio.get_running_loop()
        self._poller: asyncio.Task[None] | None = None
        self._market_clock = SimulatedClock()
        self._recovery = loop.create_task(self._recover())

    # -- RECOVERY -------------------------------------------------------------

    def _open_venues(self) -> dict[str, Any]:
        settings = self._settings
        if settings.venue_kind == "ccxt":
            return build_ccxt_venues(settings, client_factory=self._client_factory)
        import ray

        from exchanges.venue_client import RemoteVenue

        return {
            name: RemoteVenue(
                name, ray.get_actor(f"venue:{name}"), timeout_s=settings.venue_timeout_s
            )
            for name in settings.venues
        }

    async def _recover(self) -> None:
        try:
            settings = self._settings
            clock = RealClock() if settings.clock == "real" else self._market_clock
            state_dir = Path(settings.state_dir)
            state_dir.mkdir(parents=True, exist_ok=True)
            venues = self._venues = self._open_venues()
            markets = {}
            for name, venue in venues.items():
                listed = await venue.load_markets()
                for symbol, market in select_markets(name, listed, settings.symbols).items():
                    markets[(name, symbol)] = market
            service_venues: dict[str, Any] = dict(venues)
            if settings.venue_kind == "ccxt":
                since_ms = account_start_ms(state_dir, clock.now_ns())
                service_venues = {n: TradesSince(v, since_ms) for n, v in venues.items()}
            engine = GatewayEngine(markets, settings.limits, clock, config=settings.engine)
            self._audit = self._open_audit(state_dir) if settings.audit else None
            service = GatewayService(
                engine=engine,
                wal=Wal(state_dir / "wal"),
                checkpoints=self._checkpointer(state_dir, clock),
                venues=service_venues,
                clock=clock,
                crash=self._crash,
                audit=self._audit,
                timer=time.perf_counter_ns,  # latency metrics in real time, whatever the clock
            )
            await service.recover()
            self._service = service
            self._ready_ns = time.time_ns()
            if settings.poll_interval_s is not None:
                self._poller = asyncio.get_running_loop().create_task(self._poll_forever())
            log.info("gateway ready in %.3f s", (self._ready_ns - self._started_ns) / 1e9)
        except Exception as exc:  # a halt: keep the actor up so the operator can read why
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("gateway recovery failed; halted")

    def _checkpointer(self, state_dir: Path, clock: Any) -> Checkpointer | None:
        """The engine's checkpoints beside the WAL; retired segments to ``wal-archive``."""
        settings = self._settings.checkpoints
        if settings is None:
            return None
        archive = None
        if settings.retire == "archive":
            archive = OsDisk(settings.archive_dir or state_dir / "wal-archive")
        store = CheckpointStore(OsDisk(state_dir / "wal"))
        return Checkpointer(store, settings, clock, archive=archive, timer=time.perf_counter)

    @staticmethod
    def _open_audit(state_dir: Path) -> Any:
        """Open the audit store; a store that cannot open is logged, never a reason to halt orders."""
        from gateway.audit import AuditStore

        try:
            return AuditStore(state_dir / "audit.duckdb")
        except Exception:
            log.exception("audit store unavailable; rebuild it later from the WAL")
            return None

    async def _poll_forever(self) -> None:
        interval = self._settings.poll_interval_s or 0.05
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            service = self._service
            if service is None:
                continue
            try:
                await service.poll()
                due = time.monotonic() - last_flush >= self._settings.audit_flush_s
                if (
                    self._audit is not None and due
                ):  # off the event loop: a flush may take tens of ms
                    last_flush = time.monotonic()
                    await asyncio.get_running_loop().run_in_executor(None, self._audit.flush)
            except Exception:  # housekeeping must go on; the error is in the log
                log.exception("gateway poll failed")

    def _ready(self) -> GatewayService:
        if self._service is not None:
            return self._service
        if self._error is not None:
            raise HaltError(f"gateway halted: {self._error}")
        raise GatewayNotReady("gateway is recovering; retry shortly")

    # -- ORDERS ---------------------------------------------------------------

    async def submit(self, intent: OrderIntent) -> SubmitResult:
        return await self._ready().submit(intent)

    async def submit_many(self, intents: Sequence[OrderIntent]) -> list[SubmitResult]:
        return await self._ready().submit_many(intents)

    async def cancel(self, agent_id: str, intent_id: str) -> OrderView | Denial | None:
        return await self._ready().cancel(agent_id, intent_id)

    # -- BUDGETS, MARKS, BREAKER ----------------------------------------------

    async def set_budgets(self, budgets: Mapping[str, Decimal]) -> None:
        self._ready().set_budgets(budgets)

    async def log_council(
        self, decision: Mapping[str, Any], budgets: Mapping[str, Decimal] | None
    ) -> None:
        """Log a council decision with its inputs and the budgets it sets (one commit)."""
        self._ready().log_council(decision, budgets)

    async def mark(
        self, prices: Mapping[tuple[str, str], Decimal], ts_ns: int | None = None
    ) -> None:
        """Take reference prices; with ``ts_ns``, move the market clock there first (lockstep)."""
        if ts_ns is not None:
            await self.set_time(ts_ns)
        if prices:
            self._ready().mark(prices)

    async def book_funding(self, payment: FundingPayment) -> str:
        """Book a funding payment the venue made on the account (``GatewayService.book_funding``)."""
        return str(self._ready().book_funding(payment).outcome)

    async def kill(self, operator: str, detail: str = "") -> str:
        return self._ready().kill(operator, detail)

    async def reset(self, operator: str, detail: str = "") -> str:
        return self._ready().reset(operator, detail)

    async def poll(self) -> dict[str, int]:
        counts = await self._ready().poll()
        if (
            self._audit is not None
        ):  # an explicit poll (lockstep, shutdown) leaves the projection current
            self._audit.flush()
        return counts

    async def set_time(self, ts_ns: int) -> None:
        """Move the market clock (``clock = "market"``) to ``ts_ns``; never backwards."""
        if ts_ns > self._market_clock.now_ns():
            self._market_clock.advance_to(ts_ns)

    # -- VIEWS ----------------------------------------------------------------

    async def snapshot(self) -> EngineSnapshot:
        return self._ready().engine.snapshot()

    async def order(self, agent_id: str, intent_id: str) -> OrderView | None:
        return self._ready().engine.order_for(agent_id, intent_id)

    async def agent_account(self, agent_id: str, intent_ids: Sequence[str] = ()) -> AgentAccount:
        return self._ready().agent_account(agent_id, intent_ids)

    async def council_log(self, since: int = 0) -> list[dict[str, Any]]:
        """The council's logged decisions (it rebuilds itself from them after a restart)."""
        return self._ready().engine.council_log(since)

    async def status(self) -> dict[str, Any]:
        service = self._service
        status: dict[str, Any] = {
            "pid": os.getpid(),
            "ready": service is not None,
            "error": self._error,
            "started_ns": self._started_ns,
            "ready_ns": self._ready_ns,
            "state_dir": self._settings.state_dir,
        }
        if service is None and self._error is not None:
            status["breaker"] = "open"  # halted before it could accept a single order
        if service is not None:
            status["breaker"] = str(service.engine.breaker_state)
            status["wal_committed_seq"] = service.wal.committed_seq
            if service.checkpoints is not None:
                status["checkpoints"] = dict(vars(service.checkpoints.stats))
            status["stats"] = dict(vars(service.stats))
        return status

    async def shutdown(self) -> dict[str, int]:
        """Stop polling, settle one last round, flush the audit store, close the ccxt clients.

        Call it before killing the actor at the end of a run; later calls are harmless.
        """
        counts: dict[str, int] = {}
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._service is not None:
            try:
                counts = await self._service.poll()
            except Exception:  # closing must go on; the error is in the log
                log.exception("last poll before shutdown failed")
        if self._service is not None and self._service.checkpoints is not None:
            await self._service.checkpoints.drain()
        if self._audit is not None:
            self._audit.flush()
        venues, self._venues = self._venues, {}
        for name, venue in venues.items():
            if self._settings.venue_kind == "ccxt":
                try:
                    await venue.close()
                except Exception:
                    log.exception("closing %s failed", name)
        return counts

    # -- TESTS AND CHAOS ------------------------------------------------------

    async def arm_crash(self, spec: str) -> None:
        """Arm crash points (``"after_send:1"``) in this process only; a restart comes back inert."""
        armed = CrashPoints.from_spec(spec, on_fire=_die)
        self._crash.armed.update(armed.armed)
        self._crash.reached.clear()
