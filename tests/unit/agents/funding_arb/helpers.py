"""Plain-value builders for the funding-arbitrage tests."""

from __future__ import annotations

from decimal import Decimal

from agents.funding_arb.config import FundingArbConfig, VenueMarkets
from agents.funding_arb.model import PositionView, Quote, Snapshot
from core.events import FundingEvent

HOUR = 3600 * 10**9
T0 = 1_760_000_000 * 10**9 // HOUR * HOUR
SPOT = ("binance", "BTC/USDT")
PERP = ("binance", "BTC/USDT:USDT")


def spot_perp_config(**changes: object) -> FundingArbConfig:
    """Binance BTC spot-perp only, last-print estimator, no slippage: numbers by hand.

    Perps count at full notional (``perp_leverage`` 1), so a unit of half the budget
    (100,000) is 25,000 a leg: 0.5 BTC at 50,000.
    """
    values: dict[str, object] = {
        "venues": {
            "binance": VenueMarkets(perps={"BTC": "BTC/USDT:USDT"}, spots={"BTC": "BTC/USDT"})
        },
        "strategies": frozenset({"spot_perp"}),
        "estimator": "last",
        "min_prints": 1,
        "horizon_hours": Decimal(100),
        "entry_margin": Decimal("0.001"),
        "exit_margin": Decimal(0),
        "slippage": Decimal(0),
        "flip_exit": False,
        "perp_leverage": Decimal(1),
    }
    values.update(changes)
    return FundingArbConfig.model_validate(values)


def quotes(
    ts_ns: int, price: str = "50000", markets: tuple[tuple[str, str], ...] = (SPOT, PERP)
) -> tuple[Quote, ...]:
    return tuple(Quote(v, s, Decimal(price), ts_ns) for v, s in markets)


def funding(
    ts_ns: int, rate: str, market: tuple[str, str] = PERP, hours: str = "8"
) -> FundingEvent:
    return FundingEvent(ts_ns, market[0], market[1], Decimal(rate), Decimal(hours))


def snapshot(
    ts_ns: int,
    *,
    rate: str | None = None,
    price: str = "50000",
    positions: dict[tuple[str, str], str] | None = None,
    budget: str = "100000",
) -> Snapshot:
    prints = (funding(ts_ns, rate),) if rate is not None else ()
    held = tuple(PositionView(v, s, Decimal(a)) for (v, s), a in (positions or {}).items())
    return Snapshot(ts_ns, Decimal(budget), quotes(ts_ns, price), prints, held)
