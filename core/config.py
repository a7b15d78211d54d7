"""Configuration: TOML files validated by frozen pydantic models, secrets from the environment.

A bad file is a ``ConfigError`` that names the file, the dotted key and the bad
value (``configs/paper.toml: paper.seed = 'x': Input should be a valid integer``).
Keys and secrets are never read from a file: ``api_credentials`` takes them from
environment variables only, and their ``repr`` never shows them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from core.errors import MISSING, ConfigError, SecretMissing
from core.money import Dec


class ConfigModel(BaseModel):
    """Base of every config section: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


M = TypeVar("M", bound=BaseModel)


def _lookup(data: Any, location: tuple[int | str, ...]) -> Any:
    for part in location:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return MISSING
    return data


def validate_config(data: Mapping[str, Any], model: type[M], source: Path | str) -> M:
    """Validate ``data`` against ``model``; raise ``ConfigError`` naming ``source``, key and value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(first["loc"])
        key = ".".join(str(p) for p in location)
        value = _lookup(data, location)
        reason = first["msg"]
        if first["type"] == "extra_forbidden":
            reason = "unknown key"
        raise ConfigError(source, key, value, reason) from None


def load_config(path: Path | str, model: type[M]) -> M:
    """Read the TOML file at ``path`` and validate it against ``model``.

    A top-level ``extends = "other.toml"`` (relative to this file) reads that file first
    and lays this one over it: tables are merged key by key, any other value (arrays
    included) replaces the base's. So a variant of a config states only what differs.
    """
    return validate_config(_read_toml(Path(path), ()), model, path)


def _read_toml(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        where = seen[-1] if seen else path
        raise ConfigError(
            where, "extends" if seen else "", str(path) if seen else MISSING, "file not found"
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", MISSING, f"not valid TOML: {exc}") from None
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError(path, "extends", base_name, "must be a file name")
    base_path = (path.parent / base_name).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ConfigError(path, "extends", base_name, "extends itself")
    return _merged(_read_toml(base_path, (*seen, path.resolve())), data)


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(dict(out[key]), value)
        else:
            out[key] = value
    return out


# -- SECRETS ----------------------------------------------------------------


class ApiCredentials(ConfigModel):
    """Venue keys, read from the environment only. ``repr`` masks them."""

    venue: str
    api_key: SecretStr
    secret: SecretStr
    password: SecretStr | None = None


def env_prefix(venue: str) -> str:
    return f"SWARM_{venue.upper()}_"


def api_credentials(venue: str, environ: Mapping[str, str] | None = None) -> ApiCredentials:
    """Return ``venue``'s keys from ``SWARM_<VENUE>_API_KEY``, ``_SECRET`` and ``_PASSWORD``.

    Raise ``SecretMissing`` naming the variable when a required one is unset.
    """
    env = os.environ if environ is None else environ
    prefix = env_prefix(venue)
    values: dict[str, str] = {}
    for name in ("API_KEY", "SECRET"):
        variable = prefix + name
        value = env.get(variable, "")
        if not value:
            raise SecretMissing(variable, f"the {venue} API key pair is needed for live trading")
        values[name.lower()] = value
    password = env.get(prefix + "PASSWORD") or None
    return ApiCredentials(
        venue=venue,
        api_key=SecretStr(values["api_key"]),
        secret=SecretStr(values["secret"]),
        password=SecretStr(password) if password else None,
    )


# -- THE APPLICATION'S CONFIG -----------------------------------------------

VenueId = Literal["binance", "bybit", "okx", "hyperliquid"]
VENUES: tuple[VenueId, ...] = ("binance", "bybit", "okx", "hyperliquid")


class PaperConfig(ConfigModel):
    """The paper venues and the data they replay."""

    data_dir: str = "data/bybit-btcusdt-2022-12-13"
    venues: tuple[VenueId, ...] = VENUES
    seed: int = Field(default=7, ge=0)
    starting_balances: dict[str, Dec] = Field(default_factory=lambda: {"USDT": Decimal(100_000)})
    leverage: Dec = Decimal(5)
    liquidation_model: bool = True
    spot_margin_venues: tuple[VenueId, ...] = ()
    """Paper venues whose account lends spot assets (spot margin: a spot sell beyond what is
    held borrows the rest). Off by default, as a real account must opt in."""
    spot_borrow_rate_per_hour: dict[str, Dec] = Field(default_factory=dict)
    """Per base asset, the hourly interest on a borrowed spot asset: an ASSUMPTION (venues
    float these rates; none are recorded here). Unlisted assets pay the venue default."""
    fee_multiplier: Dec = Field(default=Decimal(1), ge=0)
    """A stress knob: every paper maker and taker fee times this (1: the published schedules)."""
    taker_slippage_bps: Dec = Field(default=Decimal(0), ge=0)
    """A stress knob: every taker fill this many bps worse than the book it walks (0: none)."""


class ReplayConfig(ConfigModel):
    speed: float | Literal["max"] = "max"
    batch_size: int = Field(default=512, ge=1, le=100_000)
    max_in_flight_batches: int = Field(default=4, ge=1, le=64)


class RayConfig(ConfigModel):
    namespace: str = "swarm"
    address: str | None = None
    dashboard: bool = False
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8265, ge=0, le=65535)
    dashboard_allow_remote: bool = False
    """A ``dashboard_host`` that is not loopback is refused unless this is true: the
    dashboard's job API runs code, and token authentication is its only guard."""
    token_auth: bool = True
    """Ray's token authentication (``RAY_AUTH_MODE=token``) for a Ray this process starts."""
    gateway_resource: str = "gateway"
    """The custom resource of the node holding the WAL disk; the gateway asks for a little of it."""


class MetricsConfig(ConfigModel):
    """Prometheus metrics: through Ray's metrics pipeline and a plain ``/metrics`` endpoint."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    """0: a free port, reported in the run's output."""
    allow_remote: bool = False
    """A ``host`` that is not loopback is refused unless this is true (no authentication)."""
    interval_s: float = Field(default=1.0, gt=0, le=60)
    ray_metrics: bool = True
    """Also export through ``ray.util.metrics`` (shown with Ray's own on the metrics export port)."""


class CockpitConfig(ConfigModel):
    """The web cockpit a paper or live run serves (``cli.cockpit``), guarded by a random token."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    """0: a free port; the URL with its token is printed on stderr."""
    allow_remote: bool = False
    """A ``host`` that is not loopback is refused unless this is true (the token is the only
    guard, and it travels in clear over plain HTTP)."""
    refresh_s: float = Field(default=1.0, gt=0, le=60)
    """How often the driver reads the system for the page (and the alerts)."""


class AlertsConfig(ConfigModel):
    """Alerts through apprise (``cli.alerts``): off while ``urls`` is empty.

    A URL may name environment variables as ``${NAME}`` (tokens, passwords): they are
    filled in at start and never written to a log, which shows URLs redacted.
    """

    urls: list[str] = Field(default_factory=list)
    dedup_s: float = Field(default=600.0, ge=0)
    """The same alert (kind and subject) again within this window is dropped."""
    max_per_minute: int = Field(default=10, ge=1)
    """At most this many alerts a minute; the rest are counted and summarized in the next."""
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    """A send slower than this is abandoned (it runs on its own thread, never an order's)."""
    unknown_order_age_s: float = Field(default=60.0, gt=0)
    """An order whose outcome is still UNKNOWN after this long is alerted."""
    feed_stale_s: float = Field(default=60.0, gt=0)
    """The feed's events not moving for this long (wall time) is alerted."""
    queue: int = Field(default=100, ge=1)
    """Alerts waiting for the sender beyond this are dropped (and counted)."""


class StateConfig(ConfigModel):
    dir: str = "var/paper"


class GatewayConfig(ConfigModel):
    """The gateway's risk caps for this run (the full set lives in ``risk.limits.RiskLimits``)."""

    max_order_notional: Dec = Decimal(10_000)
    max_position_notional: Dec = Decimal(50_000)
    max_orders_per_minute: int = Field(default=600, ge=1)
    price_band_bps: Dec = Decimal(500)
    checkpoint_every_records: int | None = Field(default=100_000, gt=0)
    """Checkpoint the gateway's engine after this many WAL records (None: not by count)."""
    checkpoint_every_s: float | None = Field(default=300.0, gt=0)
    """... or when this long has passed with records logged (None: not by time)."""
    retire_segments: Literal["archive", "delete", "keep"] = "archive"
    """WAL segments behind the older kept checkpoint: to ``<state>/wal-archive``, deleted, kept."""
    order_retention_s: float | None = Field(default=3_600.0, gt=0)
    """The venues' query window: terminal orders leave the gateway's order table this long
    after their last change (None: never)."""
    idempotency_retention_s: float | None = Field(default=7 * 86_400.0, gt=0)
    """How long a retired order's idempotency key is kept (None: for ever)."""
    trade_id_retention_s: float | None = Field(default=3_600.0, ge=60)
    """How long behind a venue's newest trade the ids of older trades are kept: older ones
    are refused as booked (the fill cursor never asks for them; None: kept for ever)."""


AgentKind = Literal["market_maker", "funding_arb", "liquidation_hunter"]


class AgentSpec(ConfigModel):
    """One agent of the run: its strategy, its starting budget, and the strategy's own settings.

    ``config`` is validated by the strategy's own model when the run starts (an
    unknown or bad key is an error naming ``agents.<id>.config.<key>``).
    """

    kind: AgentKind
    enabled: bool = True
    budget: Dec
    config: dict[str, Any] = Field(default_factory=dict)


class CouncilSection(ConfigModel):
    """The council: off by default; ``config`` is validated by ``council.core.CouncilConfig`` at start."""

    enabled: bool = False
    config: dict[str, Any] = Field(default_factory=dict)


class LiveSection(ConfigModel):
    """Live trading: the account it trades; ``SWARM_LIVE_ACK`` must name it to arm a live run."""

    account: str = ""


class LoggingSection(ConfigModel):
    """Structured logs on stderr (``cli.logs``): level and format; secrets are always redacted."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    format: Literal["json", "text"] = "json"


class SwarmConfig(ConfigModel):
    """The whole of ``configs/*.toml``."""

    mode: Literal["paper", "live", "backtest"] = "paper"
    paper: PaperConfig = PaperConfig()
    replay: ReplayConfig = ReplayConfig()
    ray: RayConfig = RayConfig()
    metrics: MetricsConfig = MetricsConfig()
    cockpit: CockpitConfig = CockpitConfig()
    alerts: AlertsConfig = AlertsConfig()
    state: StateConfig = StateConfig()
    gateway: GatewayConfig = GatewayConfig()
    agents: dict[str, AgentSpec] = Field(default_factory=dict)
    council: CouncilSection = CouncilSection()
    live: LiveSection = LiveSection()
    logging: LoggingSection = LoggingSection()
