"""What the hunter's ``decide`` reads (the snapshot) and carries (the state); pure data."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import ConfigDict

from agents.liquidation_hunter.detector import LiquidatedSide, Print
from core.events import Bar, Liquidation, TradeTick
from core.models import Frozen, Side
from core.money import ZERO, Dec
from gateway.breaker import BreakerState

# -- SNAPSHOT -----------------------------------------------------------------


class OpenOrderView(Frozen):
    """One of the agent's open orders, as the gateway reports it."""

    intent_id: str
    side: Side
    price: Dec | None
    remaining: Dec
    reduce_only: bool = False


class HunterSnapshot(Frozen):
    """What the agent knows at ``ts_ns``; book values may be bad (NaN, crossed): decide checks."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=True)

    ts_ns: int
    best_bid: Decimal | None
    bid_size: Decimal | None = None
    best_ask: Decimal | None
    ask_size: Decimal | None = None
    feed_ts_ns: int | None  # time of the newest market data the feed delivered
    position: Dec = ZERO  # signed base amount
    entry_price: Dec | None = None  # the position's average entry, when the gateway knows it
    open_orders: tuple[OpenOrderView, ...] = ()
    breaker: BreakerState = BreakerState.CLOSED
    liquidations: tuple[Liquidation, ...] = ()  # since the previous call, oldest first
    trades: tuple[TradeTick, ...] = ()
    bars: tuple[Bar, ...] = ()
    open_interest: Decimal | None = None  # the venue's latest, in the market's units
    open_interest_ts_ns: int | None = None


# -- STATE --------------------------------------------------------------------


class HoldReason(StrEnum):
    """Why no entry may be placed on this snapshot."""

    BREAKER = "breaker_not_closed"
    STALE_FEED = "stale_feed"
    NO_BOOK = "no_book"
    BAD_PRICE = "bad_price"
    CROSSED_BOOK = "crossed_book"


class ExitReason(StrEnum):
    TAKE_PROFIT = "take_profit"
    STOP = "stop"
    TIME = "time"


class Cascade(Frozen):
    """A detected cascade: ``side`` is the liquidation orders' side; what the hunter did after.

    ``notional`` is a lower bound when ``lower_bound`` (a snapshot stream); ``outcome``
    is None while the hunter is still waiting for the cascade's exhaustion.
    """

    detected_ns: int
    side: LiquidatedSide
    notional: Dec
    mid: Dec
    lower_bound: bool = False
    slots: int = 0
    move_bps: float | None = None
    move_sigma: float | None = None
    oi_drop_bps: float | None = None
    outcome: str | None = None


class Armed(Frozen):
    """A cascade waiting for its exhaustion before the fade: ``start`` -> ``extreme`` is its move."""

    cascade_ns: int
    side: LiquidatedSide
    start: Dec
    extreme: Dec
    last_print_ns: int
    deadline_ns: int


class PendingEntry(Frozen):
    """An entry order placed after ``cascade`` and not yet (fully) filled."""

    cascade_ns: int
    intent_id: str
    side: Side
    price: Dec
    placed_ns: int


class ActiveTrade(Frozen):
    """A position the hunter holds; ``side`` is the entry's side (BUY: long)."""

    cascade_ns: int
    side: Side
    entry_price: Dec
    opened_ns: int
    exit_reason: ExitReason | None = None
    last_exit_ns: int | None = None


class Tally(Frozen):
    """Counters of what the hunter did, for metrics, the idle reason and the backtest report."""

    cascades_long_liquidations: int = 0
    cascades_short_liquidations: int = 0
    entries_placed: int = 0
    trades_opened: int = 0
    liquidations_counted: int = 0
    repeats_dropped: int = 0
    model_dropped: int = 0  # model prints after a recorded one arrived
    exits: tuple[tuple[ExitReason, int], ...] = (
        (ExitReason.TAKE_PROFIT, 0),
        (ExitReason.STOP, 0),
        (ExitReason.TIME, 0),
    )

    def with_exit(self, reason: ExitReason) -> Tally:
        exits = tuple((r, n + 1 if r is reason else n) for r, n in self.exits)
        return self.model_copy(update={"exits": exits})


class Closest(Frozen):
    """The reading that came closest to a cascade (largest flow / needed), for the idle reason."""

    ratio: float
    line: str


class HunterState(Frozen):
    """Everything ``decide`` carries from one call to the next."""

    prints: tuple[Print, ...] = ()  # the cascade window's liquidations, oldest first
    recorded_seen: bool = False
    traded: tuple[tuple[int, Dec], ...] = ()  # (ts_ns, notional)
    last_bar_ns: int | None = None  # the newest bar counted in ``traded``
    window_mids: tuple[tuple[int, Dec], ...] = ()  # (ts_ns, mid), one a second, in the window
    minute_mids: tuple[tuple[int, float], ...] = ()  # (minute, last mid) over vol_window_ns
    open_interest: tuple[tuple[int, Dec], ...] = ()  # (ts_ns, OI), one a second, in the window
    latched: tuple[LiquidatedSide, ...] = ()
    cascades: tuple[Cascade, ...] = ()  # every detection, oldest first
    armed: Armed | None = None
    pending: PendingEntry | None = None
    trade: ActiveTrade | None = None
    cooldown_until_ns: int | None = None
    last_ts_ns: int | None = None
    hold: HoldReason | None = None
    closest: Closest | None = None
    tally: Tally = Tally()


def initial_state() -> HunterState:
    """Return the empty state of a fresh (or restarted) agent."""
    return HunterState()


def intent_id_for(cascade_ns: int, side: Side, leg: str, ts_ns: int | None = None) -> str:
    """Return the intent id of ``leg`` of the trade that cascade ``cascade_ns`` started.

    ``side`` is the entry's side; exit legs add the time of the event that placed them.
    """
    direction = "long" if side is Side.BUY else "short"
    base = f"lh-{cascade_ns}-{direction}-{leg}"
    return base if ts_ns is None else f"{base}-{ts_ns}"
