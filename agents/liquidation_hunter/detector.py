"""The hunter's cascade detector, pure: liquidation flow, price move and open-interest drop.

A cascade on a side (the forced orders' side: "sell" = longs liquidated) is read from
three ingredients over ``cascade_window_ns``, each in the market's own units:

- **Flow**: the liquidated notional of that side, against ``min_cascade_notional``,
  ``min_volume_ratio`` of the notional traded over ``volume_window_ns`` and
  ``min_depth_ratio`` of the resting depth the forced orders hit.
- **Price move**: the mid's move in the forced orders' direction from the window's
  extreme on the other side (its high, for long liquidations), in units of the
  volatility expected over the window: sigma of one-minute mid log returns over
  ``vol_window_ns`` before the window (the cascade's own move must not inflate it)
  times the square root of the window in minutes. A cascade must
  move the price ``min_move_sigma`` of those (0 turns the ingredient off).
- **Open interest**: the drop of the venue's open interest (``MarkEvent``, e.g. a
  Bybit ticker) from its window high, in basis points of it; forced orders close
  positions, so a real cascade takes open interest down. Required only where the
  feed carries open interest (``min_oi_drop_bps``; unknown is said, never guessed).

Snapshot streams. Binance's ``forceOrder`` pushes, per symbol, only the latest
liquidation order of each 1000 ms: a stream of snapshots is a *sample* of the flow.
Its sum is therefore a lower bound of the cascade's size, never the size: within one
one-second slot only the latest print counts (two prints in one slot are the same
snapshot delivered twice, e.g. an order re-pushed as it fills), the flow is reported
as "at least" that sum, and a stream that printed in ``min_snapshot_slots`` slots of
the window counts as flow on its own (a saturated sample hides more orders than it
shows; how many is not knowable from the stream, so no multiple is made up).
``snapshot_interval_ms`` (None: 1000 on Binance, 0 elsewhere) sets the slot; model
prints and complete streams (Bybit ``allLiquidation``) are summed as they are.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal
from typing import Literal

from agents.liquidation_hunter.config import LiquidationHunterConfig
from core.events import Liquidation
from core.models import Frozen
from core.money import ZERO, Dec

LiquidatedSide = Literal["buy", "sell"]
_NS_PER_MIN = 60_000_000_000
_NS_PER_MS = 1_000_000


class Print(Frozen):
    """One liquidation counted in the window; its identity is every field but ``notional``.

    A recorded print carries no id: two identical in time, side, price and amount are
    one delivered twice. A model print carries the venue's ``sequence``.
    """

    ts_ns: int
    side: LiquidatedSide
    price: Dec
    amount: Dec
    source: Literal["recorded", "model"]
    sequence: int | None = None
    notional: Dec

    @classmethod
    def of(cls, event: Liquidation) -> Print:
        return cls(
            ts_ns=event.ts_ns,
            side=event.side,
            price=event.price,
            amount=event.amount,
            source=event.source,
            sequence=event.sequence,
            notional=event.price * event.amount,
        )


class Flow(Frozen):
    """The liquidated notional of one side in the window, as far as the stream shows it."""

    notional: Dec
    prints: int
    slots: int  # one-second slots with a print (snapshot streams), else 0
    lower_bound: bool  # a snapshot stream: the true flow is at least ``notional``


class Reading(Frozen):
    """Every ingredient of one side at one instant, and which of them failed."""

    side: LiquidatedSide
    flow: Flow
    flow_needed: Dec
    move_bps: float | None
    move_sigma: float | None
    sigma_bps: float | None  # the volatility expected over the window, in bps
    oi_drop_bps: float | None
    failed: tuple[str, ...]

    @property
    def is_cascade(self) -> bool:
        return not self.failed


def snapshot_interval_ms(config: LiquidationHunterConfig) -> int:
    """Return the slot of the venue's liquidation stream (0: every liquidation is pushed)."""
    if config.snapshot_interval_ms is not None:
        return config.snapshot_interval_ms
    return 1000 if config.venue.startswith("binance") else 0


def flow_of(prints: tuple[Print, ...], side: LiquidatedSide, slot_ms: int) -> Flow:
    """Return the flow of ``side``: a sum, or one print per slot of a snapshot stream."""
    mine = [p for p in prints if p.side == side]
    if slot_ms <= 0:
        return Flow(notional=sum((p.notional for p in mine), ZERO), prints=len(mine), slots=0,
                    lower_bound=False)  # fmt: skip
    latest: dict[tuple[str, int], Print] = {}
    for p in mine:  # oldest first: a later print of the same slot replaces the earlier
        # Model prints are complete, whatever the venue: only recorded ones are sampled.
        slot = p.ts_ns // (slot_ms * _NS_PER_MS) if p.source == "recorded" else p.ts_ns
        latest[(p.source, slot)] = p
    recorded = sum(1 for source, _ in latest if source == "recorded")
    return Flow(
        notional=sum((p.notional for p in latest.values()), ZERO),
        prints=len(mine),
        slots=recorded,
        lower_bound=recorded > 0,
    )


def sigma_per_minute(minute_mids: tuple[tuple[int, float], ...]) -> tuple[float | None, int]:
    """Return the sample sigma of one-minute log returns of the mids, and how many returns."""
    returns = [
        math.log(b / a)
        for (ma, a), (mb, b) in itertools.pairwise(minute_mids)
        if mb == ma + 1 and a > 0 and b > 0
    ]
    if len(returns) < 2:
        return None, len(returns)
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    return math.sqrt(var), len(returns)


def move_bps(
    window_mids: tuple[tuple[int, Decimal], ...], side: LiquidatedSide, mid: Decimal
) -> float | None:
    """Return the mid's move in the forced orders' direction from the window's other extreme."""
    if not window_mids:
        return None
    if side == "sell":  # longs sold out: the price fell from the window's high
        high = max(m for _, m in window_mids)
        return float((high - mid) / high) * 10_000 if high > 0 else None
    low = min(m for _, m in window_mids)
    return float((mid - low) / low) * 10_000 if low > 0 else None


def oi_drop_bps(open_interest: tuple[tuple[int, Decimal], ...]) -> float | None:
    """Return the drop of open interest from its window high to the latest value, in bps."""
    if len(open_interest) < 2:
        return None
    high = max(v for _, v in open_interest)
    latest = open_interest[-1][1]
    return float((high - latest) / high) * 10_000 if high > 0 else None


def read(
    side: LiquidatedSide,
    prints: tuple[Print, ...],
    traded: Decimal,
    depth: Decimal | None,
    window_mids: tuple[tuple[int, Decimal], ...],
    minute_mids: tuple[tuple[int, float], ...],
    open_interest: tuple[tuple[int, Decimal], ...],
    mid: Decimal,
    config: LiquidationHunterConfig,
) -> Reading:
    """Return every ingredient of ``side`` now, and the names of those below their threshold."""
    flow = flow_of(prints, side, snapshot_interval_ms(config))
    needed = max(config.min_cascade_notional, config.min_volume_ratio * traded)
    failed: list[str] = []
    saturated = flow.lower_bound and flow.slots >= config.min_snapshot_slots
    if flow.notional <= 0 or (flow.notional < needed and not saturated):
        failed.append("flow")
    elif depth is not None and flow.notional < config.min_depth_ratio * depth and not saturated:
        failed.append("depth")
    move = move_bps(window_mids, side, mid)
    sigma, _ = sigma_per_minute(minute_mids)
    window_min = config.cascade_window_ns / _NS_PER_MIN
    sigma_bps = None if sigma is None else sigma * math.sqrt(window_min) * 10_000
    move_sigma = None
    if move is not None and sigma_bps is not None and sigma_bps > 0:
        move_sigma = move / sigma_bps
    if config.min_move_sigma > 0:
        if move_sigma is None:
            failed.append("volatility unknown")
        elif move_sigma < float(config.min_move_sigma):
            failed.append("move")
    drop = oi_drop_bps(open_interest)
    if config.min_oi_drop_bps > 0 and drop is not None and drop < float(config.min_oi_drop_bps):
        failed.append("open interest")
    return Reading(
        side=side,
        flow=flow,
        flow_needed=needed,
        move_bps=move,
        move_sigma=move_sigma,
        sigma_bps=sigma_bps,
        oi_drop_bps=drop,
        failed=tuple(failed),
    )


def describe(reading: Reading, config: LiquidationHunterConfig) -> str:
    """Return the reading in one line with its numbers (for the idle reason and --explain)."""
    label = "long" if reading.side == "sell" else "short"
    flow = reading.flow
    at_least = ">= " if flow.lower_bound else ""
    minutes = config.cascade_window_ns / _NS_PER_MIN
    parts = [
        f"{label}-liquidation flow {at_least}{_k(flow.notional)} vs {_k(reading.flow_needed)} "
        f"needed in {minutes:g} min"
        + (f" ({flow.slots} one-second slots)" if flow.lower_bound else "")
    ]
    if reading.move_sigma is not None:
        parts.append(
            f"move {reading.move_bps:.0f} bp = {reading.move_sigma:.1f} sigma "
            f"(need {config.min_move_sigma})"
        )
    elif config.min_move_sigma > 0:
        parts.append("volatility unknown (too few one-minute mids)")
    if reading.oi_drop_bps is not None:
        parts.append(f"OI drop {reading.oi_drop_bps:.1f} bp (need {config.min_oi_drop_bps})")
    else:
        parts.append("OI n/a")
    return "; ".join(parts)


def _k(value: Decimal) -> str:
    number = float(value)
    if abs(number) >= 1_000_000:
        return f"{number / 1_000_000:.2f}M"
    if abs(number) >= 1_000:
        return f"{number / 1_000:.0f}k"
    return f"{number:.0f}"
