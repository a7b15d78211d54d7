"""The liquidation hunter's pure decision: ``decide(state, snapshot, config) -> (state, actions)``.

One call per market event. The snapshot carries the top of book, the event
time, the newest feed time, the forced liquidations, public trades and bars
since the previous call, the position and open orders *as the gateway reports
them*, and the breaker state.

Detection (per side, ``detector.py``). A long-liquidation cascade is the sell-side
forced flow within ``cascade_window_ns`` reaching its thresholds (absolute, against
traded notional, against the bid depth at the touch; a Binance snapshot stream is a
lower bound, one print per one-second slot), the mid falling ``min_move_sigma`` of
its expected move over the window, and open interest falling where the feed carries
it; a short squeeze is the mirror on the buy side. A detected side is latched until
its flow falls back below ``min_cascade_notional``, so one cascade is counted once.

Liquidations counted. Only the hunter's own market; each one once (a print identical
in time, side, price, amount and source to one in the window is a repeat and is
dropped); and once a recorded print has arrived, the model's prints are dropped
(recorded prints are the truth: the paper venue switches its model off then too).

Trading: a fade, but not blindly. What is published on crypto liquidation cascades
describes both an overshoot that reverts and, in trending markets, continuation; we
found no peer-reviewed measurement we could check, and the one cascade the embedded
data gave on main was followed by +52 bp in its own direction. So the hunter does
not sell into a squeeze or buy into a crash while it runs. After a detection it waits
for exhaustion: no forced order of that side for ``exhaustion_ns`` and the mid back
``confirm_retrace`` of the cascade's move from its extreme, within
``confirm_window_ns``. Then it rests a post-only buy ``entry_offset_bps`` below the
bid (after a squeeze: a sell above the ask), rounded away from the market to the
tick, sized to the lot and the per-symbol cap. A cascade the price keeps running
after is not traded; ``Cascade.outcome`` says what happened to each. Once a
position exists it rests a reduce-only post-only take-profit and watches a hard stop
and a time stop, both sent as reduce-only market orders. Exits never exceed the
position, so they cannot open the other side; no entry is made while a position or
an entry is open, during the cooldown after a round trip, or on a thin book.

Bad snapshots. When the breaker is not CLOSED every open order is cancelled
and nothing is placed. When the feed is stale or the book is missing,
crossed, locked or carries a NaN / non-positive price, open entries are
cancelled and nothing is placed (a resting reduce-only take-profit stays).

Intent ids are pure functions of the cascade's detection time, the trade's
direction and the leg: ``lh-{detected_ns}-{long|short}-entry``, and
``...-tp-{ts_ns}``, ``...-stop-{ts_ns}``, ``...-time-{ts_ns}`` for exits
placed at event ``ts_ns``. Re-deciding the same event gives the same ids.
"""

from __future__ import annotations

from decimal import Decimal

from agents.actions import Action, CancelOrder, PlaceOrder
from agents.liquidation_hunter.config import LiquidationHunterConfig
from agents.liquidation_hunter.detector import LiquidatedSide, Print, Reading, describe, read
from agents.liquidation_hunter.exits import exit_prices, limit_intent, manage_trade
from agents.liquidation_hunter.state import (
    ActiveTrade,
    Armed,
    Cascade,
    Closest,
    ExitReason,
    HoldReason,
    HunterSnapshot,
    HunterState,
    OpenOrderView,
    PendingEntry,
    Tally,
    initial_state,
    intent_id_for,
)
from core.models import Side
from core.money import ZERO, quantize_to_step
from gateway.breaker import BreakerState

__all__ = [
    "ActiveTrade",
    "Cascade",
    "ExitReason",
    "HoldReason",
    "HunterSnapshot",
    "HunterState",
    "OpenOrderView",
    "PendingEntry",
    "Tally",
    "decide",
    "entry_price_for",
    "exit_prices",
    "initial_state",
    "intent_id_for",
    "window_notional",
]

_BPS = Decimal(10_000)
_NS_PER_S = 1_000_000_000
_NS_PER_MIN = 60 * _NS_PER_S

# -- DECIDE -------------------------------------------------------------------


def decide(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> tuple[HunterState, tuple[Action, ...]]:
    """Return the next state and the actions for one market event.

    An event older than the last one decided is ignored (no actions, same state).
    """
    if state.last_ts_ns is not None and snapshot.ts_ns < state.last_ts_ns:
        return state, ()
    state = _observe(state, snapshot, config)
    state = _track_position(state, snapshot, config)
    mid, hold = _check_book(snapshot)
    if hold is None:
        hold = _hold_reason(snapshot, config)
    state = state.model_copy(update={"hold": hold})
    if hold is HoldReason.BREAKER:
        cancels = tuple(CancelOrder(intent_id=o.intent_id) for o in snapshot.open_orders)
        return state.model_copy(update={"pending": None}), cancels
    if hold is not None or mid is None:
        cancels = tuple(
            CancelOrder(intent_id=o.intent_id) for o in snapshot.open_orders if not o.reduce_only
        )
        return state.model_copy(update={"pending": None}), cancels
    state = _observe_mid(state, snapshot.ts_ns, mid, config)
    state = _detect(state, snapshot, config, mid)
    if state.trade is not None:
        return manage_trade(state, snapshot, config, mid)
    return _manage_entry(state, snapshot, config, mid)


# -- OBSERVING ----------------------------------------------------------------


def _observe(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> HunterState:
    """Fold the new liquidations, traded notional and open interest in; drop what expired.

    Each liquidation counts once (an identical one in the window is a repeat), and
    after the first recorded print the model's prints are dropped (recorded is truth).
    """
    now = snapshot.ts_ns
    start = now - config.cascade_window_ns
    prints = [p for p in state.prints if p.ts_ns > start]
    known = set(prints)
    recorded_seen = state.recorded_seen
    counted, repeats, model_dropped = 0, 0, 0
    for event in snapshot.liquidations:
        if event.venue != config.venue or event.symbol != config.symbol:
            continue
        if event.source == "recorded" and not recorded_seen:
            recorded_seen = True
            prints = [p for p in prints if p.source == "recorded"]
            known = set(prints)
        if event.source == "model" and recorded_seen:
            model_dropped += 1
            continue
        if not (event.price.is_finite() and event.amount.is_finite()):
            continue
        if event.price <= 0 or event.amount <= 0 or event.ts_ns <= start:
            continue
        entry = Print.of(event)
        if entry in known:
            repeats += 1
            continue
        known.add(entry)
        prints.append(entry)
        counted += 1
    traded = list(state.traded)
    for trade in snapshot.trades:
        if trade.venue == config.venue and trade.symbol == config.symbol:
            traded.append((trade.ts_ns, trade.price * trade.amount))
    last_bar_ns = state.last_bar_ns
    for bar in snapshot.bars:
        if bar.venue == config.venue and bar.symbol == config.symbol:
            # The strategy hands the latest bar to every decision of its minute: once only.
            if last_bar_ns is None or bar.ts_ns > last_bar_ns:
                traded.append((bar.ts_ns, bar.close * bar.volume))
                last_bar_ns = bar.ts_ns
    volume_start = now - config.volume_window_ns
    oi = [e for e in state.open_interest if e[0] > start]
    value, oi_ts = snapshot.open_interest, snapshot.open_interest_ts_ns
    if value is not None and value.is_finite() and value > 0 and oi_ts is not None:
        if oi_ts > start and (not oi or oi_ts > oi[-1][0]):
            if oi and oi[-1][0] // _NS_PER_S == oi_ts // _NS_PER_S:
                oi[-1] = (oi_ts, value)  # one a second: the latest of the second
            else:
                oi.append((oi_ts, value))
    tally = state.tally
    if counted or repeats or model_dropped:
        tally = tally.model_copy(
            update={
                "liquidations_counted": tally.liquidations_counted + counted,
                "repeats_dropped": tally.repeats_dropped + repeats,
                "model_dropped": tally.model_dropped + model_dropped,
            }
        )
    prints.sort(key=lambda p: p.ts_ns)
    return state.model_copy(
        update={
            "prints": tuple(prints),
            "recorded_seen": recorded_seen,
            "traded": tuple(e for e in traded if e[0] > volume_start and e[1].is_finite()),
            "open_interest": tuple(oi),
            "last_bar_ns": last_bar_ns,
            "last_ts_ns": now,
            "tally": tally,
        }
    )


def _observe_mid(
    state: HunterState, now: int, mid: Decimal, config: LiquidationHunterConfig
) -> HunterState:
    """Keep one mid a second over the cascade window and one a minute over the vol window."""
    start = now - config.cascade_window_ns
    window = [e for e in state.window_mids if e[0] > start]
    if window and window[-1][0] // _NS_PER_S == now // _NS_PER_S:
        window[-1] = (now, mid)
    else:
        window.append((now, mid))
    minute = now // _NS_PER_MIN
    first_minute = (now - config.vol_window_ns) // _NS_PER_MIN
    minutes = [e for e in state.minute_mids if e[0] >= first_minute]
    if minutes and minutes[-1][0] == minute:
        minutes[-1] = (minute, float(mid))
    else:
        minutes.append((minute, float(mid)))
    return state.model_copy(update={"window_mids": tuple(window), "minute_mids": tuple(minutes)})


def _track_position(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig
) -> HunterState:
    """Open or close the active trade from the position the gateway reports."""
    position = snapshot.position
    trade = state.trade
    if trade is None and position != 0:
        side = Side.BUY if position > 0 else Side.SELL
        pending = state.pending
        entry = snapshot.entry_price
        if entry is None and pending is not None:
            entry = pending.price
        if entry is None:
            entry = _mid_or_none(snapshot)
        if entry is None:
            return state  # an unknown entry price cannot set exits; wait for a good book
        cascade_ns = pending.cascade_ns if pending is not None else snapshot.ts_ns
        opened = ActiveTrade(
            cascade_ns=cascade_ns, side=side, entry_price=entry, opened_ns=snapshot.ts_ns
        )
        tally = state.tally.model_copy(update={"trades_opened": state.tally.trades_opened + 1})
        return state.model_copy(update={"trade": opened, "tally": tally})
    if trade is not None and position == 0:
        reason = trade.exit_reason or ExitReason.TAKE_PROFIT
        return state.model_copy(
            update={
                "trade": None,
                "pending": None,
                "cooldown_until_ns": snapshot.ts_ns + config.cooldown_ns,
                "tally": state.tally.with_exit(reason),
            }
        )
    if trade is not None and snapshot.entry_price is not None:
        if snapshot.entry_price != trade.entry_price:  # a later partial fill moved the average
            updated = trade.model_copy(update={"entry_price": snapshot.entry_price})
            return state.model_copy(update={"trade": updated})
    return state


def _mid_or_none(snapshot: HunterSnapshot) -> Decimal | None:
    mid, hold = _check_book(snapshot)
    return mid if hold is None else None


def _check_book(snapshot: HunterSnapshot) -> tuple[Decimal | None, HoldReason | None]:
    bid, ask = snapshot.best_bid, snapshot.best_ask
    if bid is None or ask is None:
        return None, HoldReason.NO_BOOK
    if not (bid.is_finite() and ask.is_finite()) or bid <= 0 or ask <= 0:
        return None, HoldReason.BAD_PRICE
    for size in (snapshot.bid_size, snapshot.ask_size):
        if size is not None and (not size.is_finite() or size < 0):
            return None, HoldReason.BAD_PRICE
    if bid >= ask:
        return None, HoldReason.CROSSED_BOOK
    return (bid + ask) / 2, None


def _hold_reason(snapshot: HunterSnapshot, config: LiquidationHunterConfig) -> HoldReason | None:
    if snapshot.breaker is not BreakerState.CLOSED:
        return HoldReason.BREAKER
    if snapshot.feed_ts_ns is None or snapshot.ts_ns - snapshot.feed_ts_ns > config.max_feed_age_ns:
        return HoldReason.STALE_FEED
    return None


# -- DETECTION ----------------------------------------------------------------


def window_notional(state: HunterState, side: LiquidatedSide) -> Decimal:
    """Return the liquidated notional of ``side`` summed over the window (every print)."""
    return sum((p.notional for p in state.prints if p.side == side), ZERO)


def read_side(
    state: HunterState,
    snapshot: HunterSnapshot,
    config: LiquidationHunterConfig,
    mid: Decimal,
    side: LiquidatedSide,
) -> Reading:
    """Return the detector's reading of ``side`` on this snapshot."""
    assert snapshot.best_bid is not None and snapshot.best_ask is not None  # _check_book
    if side == "sell":
        depth = None if snapshot.bid_size is None else snapshot.bid_size * snapshot.best_bid
    else:
        depth = None if snapshot.ask_size is None else snapshot.ask_size * snapshot.best_ask
    traded = sum((n for _, n in state.traded), ZERO)
    # Volatility from before the window: the cascade's own move must not inflate it.
    before = (snapshot.ts_ns - config.cascade_window_ns) // _NS_PER_MIN
    return read(
        side,
        state.prints,
        traded,
        depth,
        state.window_mids,
        tuple(m for m in state.minute_mids if m[0] <= before),
        state.open_interest,
        mid,
        config,
    )


def _detect(
    state: HunterState,
    snapshot: HunterSnapshot,
    config: LiquidationHunterConfig,
    mid: Decimal,
) -> HunterState:
    """Latch and record each side that reads as a cascade; unlatch faded sides; arm a fade."""
    latched = list(state.latched)
    cascades = list(state.cascades)
    tally = state.tally
    closest = state.closest
    armed = state.armed
    for side in ("sell", "buy"):
        has_prints = any(p.side == side for p in state.prints)
        if side in latched:
            if window_notional(state, side) < config.min_cascade_notional:
                latched.remove(side)
            continue
        if not has_prints:
            continue
        reading = read_side(state, snapshot, config, mid, side)
        if not reading.is_cascade:
            ratio = float(reading.flow.notional / reading.flow_needed) if reading.flow_needed else 0
            if closest is None or ratio > closest.ratio:
                failed = ", ".join(reading.failed)
                closest = Closest(ratio=ratio, line=f"{describe(reading, config)} [{failed}]")
            continue
        latched.append(side)
        cascade = Cascade(
            detected_ns=snapshot.ts_ns,
            side=side,
            notional=reading.flow.notional,
            mid=mid,
            lower_bound=reading.flow.lower_bound,
            slots=reading.flow.slots,
            move_bps=reading.move_bps,
            move_sigma=reading.move_sigma,
            oi_drop_bps=reading.oi_drop_bps,
        )
        busy = _busy(state, armed)
        if busy is not None:
            cascade = cascade.model_copy(update={"outcome": f"not traded: {busy}"})
        else:
            armed = _arm(state, cascade, snapshot.ts_ns, mid, config)
        cascades.append(cascade)
        field = "cascades_long_liquidations" if side == "sell" else "cascades_short_liquidations"
        tally = tally.model_copy(update={field: getattr(tally, field) + 1})
    return state.model_copy(
        update={
            "latched": tuple(latched),
            "cascades": tuple(cascades),
            "tally": tally,
            "closest": closest,
            "armed": armed,
        }
    )


def _busy(state: HunterState, armed: Armed | None) -> str | None:
    if state.trade is not None:
        return "a position is open"
    if state.pending is not None:
        return "an entry is open"
    if armed is not None:
        return "waiting on an earlier cascade"
    return None


def _arm(
    state: HunterState, cascade: Cascade, now: int, mid: Decimal, config: LiquidationHunterConfig
) -> Armed:
    mids = [m for _, m in state.window_mids] or [mid]
    start = max(mids) if cascade.side == "sell" else min(mids)
    last = max((p.ts_ns for p in state.prints if p.side == cascade.side), default=now)
    return Armed(
        cascade_ns=cascade.detected_ns,
        side=cascade.side,
        start=start,
        extreme=mid,
        last_print_ns=last,
        deadline_ns=now + config.confirm_window_ns,
    )


def _with_outcome(state: HunterState, cascade_ns: int, outcome: str) -> HunterState:
    cascades = tuple(
        c.model_copy(update={"outcome": outcome})
        if c.detected_ns == cascade_ns and c.outcome is None
        else c
        for c in state.cascades
    )
    return state.model_copy(update={"cascades": cascades})


# -- ENTRY --------------------------------------------------------------------


def entry_price_for(
    side: Side, bid: Decimal, ask: Decimal, config: LiquidationHunterConfig
) -> Decimal:
    """Return the entry price ``entry_offset_bps`` beyond the touch, rounded away from it."""
    offset = config.entry_offset_bps / _BPS
    if side is Side.BUY:
        return quantize_to_step(bid * (1 - offset), config.price_tick, "down")
    return quantize_to_step(ask * (1 + offset), config.price_tick, "up")


def _confirm(
    armed: Armed, now: int, mid: Decimal, state: HunterState, config: LiquidationHunterConfig
) -> tuple[Armed, str | None, bool]:
    """Follow an armed cascade; return it updated, an outcome if it ends, and whether to enter."""
    falling = armed.side == "sell"
    extreme = min(armed.extreme, mid) if falling else max(armed.extreme, mid)
    last = max((p.ts_ns for p in state.prints if p.side == armed.side), default=armed.last_print_ns)
    armed = armed.model_copy(
        update={"extreme": extreme, "last_print_ns": max(last, armed.last_print_ns)}
    )
    move = armed.start - extreme if falling else extreme - armed.start
    back = mid - extreme if falling else extreme - mid
    retrace = back / move if move > 0 else ZERO
    quiet_ns = now - armed.last_print_ns
    if quiet_ns >= config.exhaustion_ns and retrace >= config.confirm_retrace:
        return armed, f"retrace {float(retrace):.2f}, quiet {quiet_ns / _NS_PER_S:.0f} s", True
    if now >= armed.deadline_ns:
        minutes = config.confirm_window_ns / _NS_PER_MIN
        return (
            armed,
            (
                f"not traded: not exhausted within {minutes:g} min (move {float(move):g}, "
                f"retrace {float(retrace):.2f} < {config.confirm_retrace}, "
                f"quiet {quiet_ns / _NS_PER_S:.0f} s)"
            ),
            False,
        )
    return armed, None, False


def _manage_entry(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig, mid: Decimal
) -> tuple[HunterState, tuple[Action, ...]]:
    """Expire a stale entry, or place the fade of an armed cascade once it is exhausted."""
    now = snapshot.ts_ns
    actions: list[Action] = []
    pending = state.pending
    open_entries = [o for o in snapshot.open_orders if not o.reduce_only]
    if pending is not None:
        still_open = any(o.intent_id == pending.intent_id for o in open_entries)
        if still_open and now - pending.placed_ns < config.entry_ttl_ns:
            return state, ()
        actions.extend(CancelOrder(intent_id=o.intent_id) for o in open_entries)
        return state.model_copy(update={"pending": None}), tuple(actions)
    # Orders this state does not know (a restart): cancel rather than guess their purpose.
    actions.extend(CancelOrder(intent_id=o.intent_id) for o in open_entries)
    armed = state.armed
    if armed is None:
        return state, tuple(actions)
    armed, outcome, enter = _confirm(armed, now, mid, state, config)
    if not enter:
        if outcome is not None:
            state = _with_outcome(state, armed.cascade_ns, outcome)
            return state.model_copy(update={"armed": None}), tuple(actions)
        return state.model_copy(update={"armed": armed}), tuple(actions)
    state = state.model_copy(update={"armed": None})
    skip = _entry_gate(state, snapshot, config, now)
    if skip is not None:
        return _with_outcome(state, armed.cascade_ns, f"not traded: {skip}"), tuple(actions)
    bid, ask = snapshot.best_bid, snapshot.best_ask
    assert bid is not None and ask is not None  # decide checked the book
    room = config.max_position - abs(snapshot.position)
    amount = quantize_to_step(min(config.order_size, room), config.amount_step, "down")
    side = Side.BUY if armed.side == "sell" else Side.SELL
    price = entry_price_for(side, bid, ask, config)
    if amount <= 0 or price <= 0:
        return _with_outcome(state, armed.cascade_ns, "not traded: no room"), tuple(actions)
    intent_id = intent_id_for(armed.cascade_ns, side, "entry")
    actions.append(PlaceOrder(intent=limit_intent(config, intent_id, side, amount, price, False)))
    entry = PendingEntry(
        cascade_ns=armed.cascade_ns, intent_id=intent_id, side=side, price=price, placed_ns=now
    )
    tally = state.tally.model_copy(update={"entries_placed": state.tally.entries_placed + 1})
    state = state.model_copy(update={"pending": entry, "tally": tally})
    outcome = f"entered: {side.value} {amount} at {price} ({outcome})"
    return _with_outcome(state, armed.cascade_ns, outcome), tuple(actions)


def _entry_gate(
    state: HunterState, snapshot: HunterSnapshot, config: LiquidationHunterConfig, now: int
) -> str | None:
    if state.cooldown_until_ns is not None and now < state.cooldown_until_ns:
        return f"cooldown for {(state.cooldown_until_ns - now) / _NS_PER_S:.0f} s more"
    for size in (snapshot.bid_size, snapshot.ask_size):
        if size is None or size < config.min_top_depth:
            return f"thin book (touch size {size} < {config.min_top_depth})"
    return None
