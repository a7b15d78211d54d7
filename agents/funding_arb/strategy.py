"""Funding-rate arbitrage as an ``agents.base.Strategy``: its snapshot from the agent's views."""

from __future__ import annotations

from collections.abc import Sequence

from agents.actions import Action
from agents.base import AccountView, MarketView
from agents.funding_arb.config import FundingArbConfig
from agents.funding_arb.logic import decide
from agents.funding_arb.model import FundingArbState, OpenOrderView, PositionView, Quote, Snapshot
from core.events import Bar, FundingEvent, MarketEvent, MarkEvent, TopOfBook


class FundingArbStrategy:
    """Carry funding with delta-neutral two-leg units (see ``agents.funding_arb.logic``)."""

    def __init__(self, config: FundingArbConfig) -> None:
        self.config = config
        self.agent_id = config.agent_id
        self._markets = frozenset(
            (venue, symbol)
            for venue, markets in config.venues.items()
            for symbol in (*markets.perps.values(), *markets.spots.values())
        )

    def wants(self, event: MarketEvent) -> bool:
        """Decide at each funding print and on each price of its markets.

        Prices matter between prints: a leg that failed or filled partly is hedged
        or unwound at the next decision, not at the next print hours later.
        """
        if isinstance(event, FundingEvent):
            return True
        return (
            isinstance(event, TopOfBook | MarkEvent | Bar)
            and (event.venue, event.symbol) in self._markets
        )

    def initial_state(self) -> FundingArbState:
        return FundingArbState()

    def snapshot(self, market: MarketView, account: AccountView, now_ns: int) -> Snapshot:
        quotes: list[Quote] = []
        for (venue, symbol), top in market.tops.items():
            mid = (top.bid + top.ask) / 2
            if mid > 0:
                quotes.append(Quote(venue, symbol, mid, top.ts_ns, (top.ask - top.bid) / mid))
        for (venue, symbol), mark in market.marks.items():
            if (venue, symbol) not in market.tops and mark.mark_price:
                quotes.append(Quote(venue, symbol, mark.mark_price, mark.ts_ns))
        for (venue, symbol), bar in market.bars.items():
            if (venue, symbol) not in market.tops and (venue, symbol) not in market.marks:
                quotes.append(Quote(venue, symbol, bar.close, bar.ts_ns))
        return Snapshot(
            ts_ns=now_ns,
            budget=account.budget,
            quotes=tuple(quotes),
            funding=market.take_funding(),
            positions=tuple(PositionView(v, s, q) for (v, s), q in account.positions.items() if q),
            open_orders=tuple(
                OpenOrderView(o.intent_id, o.venue, o.symbol, o.created_ns)
                for o in account.open_orders
            ),
        )

    def decide(
        self, state: FundingArbState, snapshot: Snapshot
    ) -> tuple[FundingArbState, Sequence[Action]]:
        return decide(state, snapshot, self.config)

    def idle_reason(self, state: FundingArbState) -> str | None:
        """Return what kept the last decide from entering, with its figures; None if holding."""
        return idle_reason(state, self.config)


def idle_reason(state: FundingArbState, config: FundingArbConfig) -> str | None:
    """Say in one line why no unit is held, from the figures the last decide recorded."""
    seen = state.evaluation
    if seen.active_units:
        return None
    if not state.rebuilt:
        return "no decision yet"
    if seen.candidates == 0:
        return "no candidate unit: no venue in the config has a spot and a perp (or two perps)"
    if seen.tradable == 0:
        prints = max((e.prints for e in state.estimates.values()), default=0)
        causes = ", ".join(f"{name} {count}" for name, count in seen.untradable)
        line = (
            f"0 of {seen.candidates} candidate units tradable ({causes}; a perp needs "
            f"{config.min_prints} funding prints, most seen {prints})"
        )
        if seen.seen_unit is not None and seen.seen_carry_apr_pct is not None:
            line += (
                f"; on what it saw the best unit, {seen.seen_unit}, "
                f"would carry {seen.seen_carry_apr_pct:.1f} %/yr before costs"
            )
        return line
    if seen.best_net_apr_pct is not None and seen.best_net_apr_pct <= seen.entry_apr_pct:
        return (
            f"best carry {seen.best_net_apr_pct:.1f} %/yr after costs < entry "
            f"{seen.entry_apr_pct:.1f} %/yr ({seen.best_unit}: "
            f"{seen.best_carry_apr_pct:.1f} %/yr before costs)"
        )
    if seen.blocked:
        parts = ", ".join(f"{name} {count}" for name, count in seen.blocked)
        return f"units that clear the entry bar were held back: {parts}"
    return None
