"""Venue rules as data: markets, fees, margin and order-handling behaviour per venue.

Every figure carries the source it was read from. Where a venue publishes no single
number (Bybit's liquidation "fee", Hyperliquid's significant-figure price rule) the
comment says how the figure was derived. Nothing here branches on a venue name: the
paper venue reads these tables, so a fifth venue is a new table, not new code.

One-way (net) position mode and one unified account per venue are assumed: Bybit's
UTA and OKX's unified account work that way; on Binance, spot and USDT-M wallets are
separate in reality and share one cash balance here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from core.errors import InvalidValue
from core.models import Market, MarketType, OrderStatus, TimeInForce
from core.money import ZERO

D = Decimal
_ONE = Decimal(1)
_EIGHT_HOURS = Decimal(8)
_SATOSHI = Decimal("0.00000001")


class ClientIdPolicy(StrEnum):
    """When a venue accepts a client order id it has already seen."""

    REUSE_AFTER_CLOSE = "reuse_after_close"  # refused while the first order is open
    NEVER_REUSE = "never_reuse"


@dataclass(frozen=True, slots=True)
class MarketRules:
    """One instrument's trading rules, fees and margin parameters."""

    symbol: str
    id: str
    type: MarketType
    base: str
    quote: str
    price_tick: Decimal
    amount_step: Decimal
    min_amount: Decimal
    maker_fee: Decimal
    taker_fee: Decimal
    settle: str | None = None
    contract_size: Decimal = _ONE
    max_amount: Decimal | None = None
    max_market_amount: Decimal | None = None
    min_cost: Decimal = ZERO
    maintenance_margin_rate: Decimal = ZERO
    liquidation_fee_rate: Decimal = ZERO
    max_leverage: Decimal = _ONE
    funding_interval_hours: Decimal = _EIGHT_HOURS
    # Derived once: the matching path reads them for every fill.
    is_spot: bool = field(init=False)
    margin_asset: str = field(init=False)
    """The asset a perp settles and is margined in (the quote for spot)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_spot", self.type is MarketType.SPOT)
        object.__setattr__(self, "margin_asset", self.settle or self.quote)

    def to_market(self, venue: str) -> Market:
        """Return the ccxt-shaped ``Market`` the port hands out."""
        derivative = not self.is_spot
        return Market(
            venue=venue,
            symbol=self.symbol,
            id=self.id,
            type=self.type,
            base=self.base,
            quote=self.quote,
            settle=self.settle if derivative else None,
            linear=True if derivative else None,
            inverse=False if derivative else None,
            contract_size=self.contract_size,
            price_tick=self.price_tick,
            amount_step=self.amount_step,
            min_amount=self.min_amount,
            max_amount=self.max_amount,
            min_cost=self.min_cost,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
        )


@dataclass(frozen=True, slots=True)
class VenueRules:
    """A venue's markets and the way it treats orders at the edges."""

    venue: str
    markets: tuple[MarketRules, ...]
    client_id_policy: ClientIdPolicy
    kill_status: OrderStatus
    """Status of a market/IOC/FOK order whose unfilled rest is dropped."""
    post_only_taking_spot: OrderStatus | None
    """Status of a post-only spot order that would take; None: refused with InvalidOrder."""
    post_only_taking_swap: OrderStatus | None
    """The same for perpetuals."""
    unfilled_ioc_raises: bool = False
    """The venue answers an IOC/market order that fills nothing with an error."""
    time_in_force: frozenset[TimeInForce] = field(default_factory=lambda: frozenset(TimeInForce))
    cash_step: Decimal = _SATOSHI
    """Precision fees, funding and pro-rata margin are booked at."""

    def market(self, symbol: str) -> MarketRules | None:
        for rules in self.markets:
            if rules.symbol == symbol:
                return rules
        return None


# -- BINANCE ----------------------------------------------------------------
# Fees: Binance fee schedule, regular user (VIP 0), no BNB discount: spot 0.1000% maker /
# 0.1000% taker; USDⓈ-M futures 0.0200% maker / 0.0500% taker
# (binance.com/en/fee/schedule and /en/fee/futureFee).
# Spot filters: GET /api/v3/exchangeInfo (BTCUSDT: PRICE_FILTER tickSize 0.01, LOT_SIZE
# stepSize/minQty 0.00001 maxQty 9000, NOTIONAL minNotional 5; ETHUSDT: tickSize 0.01,
# stepSize/minQty 0.0001, minNotional 5); the recorded spot depth in
# data/binance-2024-08-08 prints 2 price and 5 (BTC) / 4 (ETH) amount decimals, as expected.
# USDⓈ-M filters: GET /fapi/v1/exchangeInfo (BTCUSDT: tickSize 0.10, stepSize/minQty 0.001,
# maxQty 1000, MARKET_LOT_SIZE maxQty 120, MIN_NOTIONAL 100, liquidationFee 0.012500;
# ETHUSDT: tickSize 0.01, stepSize/minQty 0.001, maxQty 10000, MIN_NOTIONAL 20).
# Maintenance margin: tier 1 of the leverage brackets in tests/fixtures/ccxt/binance.json
# (BTC/USDT:USDT 0.004, ETH/USDT:USDT 0.005).
# Behaviour: a spot LIMIT_MAKER that would take is refused (-2010 "Order would immediately
# match and take"); a USDⓈ-M GTX order that would take is accepted and EXPIRED; an IOC/FOK
# or market order's unfilled rest is EXPIRED; a clientOrderId is refused while an open
# order holds it (spot -2010 "Duplicate order sent", USDⓈ-M -4116 "ClientOrderId is
# duplicated") and accepted again once that order is closed.

BINANCE = VenueRules(
    venue="binance",
    client_id_policy=ClientIdPolicy.REUSE_AFTER_CLOSE,
    kill_status=OrderStatus.EXPIRED,
    post_only_taking_spot=None,
    post_only_taking_swap=OrderStatus.EXPIRED,
    markets=(
        MarketRules(
            symbol="BTC/USDT", id="BTCUSDT", type=MarketType.SPOT, base="BTC", quote="USDT",
            price_tick=D("0.01"), amount_step=D("0.00001"), min_amount=D("0.00001"),
            max_amount=D(9000), min_cost=D(5), maker_fee=D("0.001"), taker_fee=D("0.001"),
        ),
        MarketRules(
            symbol="ETH/USDT", id="ETHUSDT", type=MarketType.SPOT, base="ETH", quote="USDT",
            price_tick=D("0.01"), amount_step=D("0.0001"), min_amount=D("0.0001"),
            min_cost=D(5), maker_fee=D("0.001"), taker_fee=D("0.001"),
        ),
        MarketRules(
            symbol="BTC/USDT:USDT", id="BTCUSDT", type=MarketType.SWAP, base="BTC",
            quote="USDT", settle="USDT", price_tick=D("0.1"), amount_step=D("0.001"),
            min_amount=D("0.001"), max_amount=D(1000), max_market_amount=D(120),
            min_cost=D(100), maker_fee=D("0.0002"), taker_fee=D("0.0005"),
            maintenance_margin_rate=D("0.004"), liquidation_fee_rate=D("0.0125"),
            max_leverage=D(125),
        ),
        MarketRules(
            # liquidationFee of ETHUSDT taken equal to BTCUSDT's published 0.0125.
            symbol="ETH/USDT:USDT", id="ETHUSDT", type=MarketType.SWAP, base="ETH",
            quote="USDT", settle="USDT", price_tick=D("0.01"), amount_step=D("0.001"),
            min_amount=D("0.001"), max_amount=D(10000), min_cost=D(20),
            maker_fee=D("0.0002"), taker_fee=D("0.0005"),
            maintenance_margin_rate=D("0.005"), liquidation_fee_rate=D("0.0125"),
            max_leverage=D(125),
        ),
    ),
)  # fmt: skip

# -- BYBIT ------------------------------------------------------------------
# Instrument rules: the recorded REST answers in data/bybit-v5-2026-08-09/BYBIT.jsonl.gz
# (/v5/market/instruments-info, category=spot and category=linear, BTCUSDT and ETHUSDT):
# spot BTCUSDT tickSize 0.1, basePrecision/minOrderQty 0.000001, maxLimitOrderQty 230,
# maxMarketOrderQty 120, minOrderAmt 5; spot ETHUSDT tickSize 0.01, basePrecision/minOrderQty
# 0.00001, maxLimitOrderQty 8118, maxMarketOrderQty 2706, minOrderAmt 5; linear BTCUSDT
# tickSize 0.10, qtyStep/minOrderQty 0.001, maxOrderQty 1500, maxMktOrderQty 150,
# minNotionalValue 5, maxLeverage 100, fundingInterval 480 min; linear ETHUSDT tickSize 0.01,
# qtyStep/minOrderQty 0.01, maxOrderQty 10000, maxMktOrderQty 2000, minNotionalValue 5.
# Fees: Bybit fee rates, non-VIP: spot 0.1000% maker / 0.1000% taker; perpetuals 0.0200%
# maker / 0.0550% taker (bybit.com/en/help-center, "Trading Fee Structure").
# Maintenance margin: risk-limit tier 1 of BTCUSDT and ETHUSDT, 0.5% (bybit.com risk limit
# page). Bybit takes a liquidated position over at the bankruptcy price; the gap to the
# liquidation price (about the maintenance margin) goes to its insurance fund, modelled here
# as a liquidation fee equal to the MMR.
# Behaviour: an orderLinkId is never accepted twice (error 110072 "OrderLinkedID is
# duplicate"); a PostOnly order that would take is created and Cancelled
# (EC_PostOnlyWillTakeLiquidity); an IOC's unfilled rest is Cancelled.

BYBIT = VenueRules(
    venue="bybit",
    client_id_policy=ClientIdPolicy.NEVER_REUSE,
    kill_status=OrderStatus.CANCELED,
    post_only_taking_spot=OrderStatus.CANCELED,
    post_only_taking_swap=OrderStatus.CANCELED,
    markets=(
        MarketRules(
            symbol="BTC/USDT", id="BTCUSDT", type=MarketType.SPOT, base="BTC", quote="USDT",
            price_tick=D("0.1"), amount_step=D("0.000001"), min_amount=D("0.000001"),
            max_amount=D(230), max_market_amount=D(120), min_cost=D(5),
            maker_fee=D("0.001"), taker_fee=D("0.001"),
        ),
        MarketRules(
            symbol="ETH/USDT", id="ETHUSDT", type=MarketType.SPOT, base="ETH", quote="USDT",
            price_tick=D("0.01"), amount_step=D("0.00001"), min_amount=D("0.00001"),
            max_amount=D(8118), max_market_amount=D(2706), min_cost=D(5),
            maker_fee=D("0.001"), taker_fee=D("0.001"),
        ),
        MarketRules(
            symbol="BTC/USDT:USDT", id="BTCUSDT", type=MarketType.SWAP, base="BTC",
            quote="USDT", settle="USDT", price_tick=D("0.1"), amount_step=D("0.001"),
            min_amount=D("0.001"), max_amount=D(1500), max_market_amount=D(150),
            min_cost=D(5), maker_fee=D("0.0002"), taker_fee=D("0.00055"),
            maintenance_margin_rate=D("0.005"), liquidation_fee_rate=D("0.005"),
            max_leverage=D(100),
        ),
        MarketRules(
            symbol="ETH/USDT:USDT", id="ETHUSDT", type=MarketType.SWAP, base="ETH",
            quote="USDT", settle="USDT", price_tick=D("0.01"), amount_step=D("0.01"),
            min_amount=D("0.01"), max_amount=D(10000), max_market_amount=D(2000),
            min_cost=D(5), maker_fee=D("0.0002"), taker_fee=D("0.00055"),
            maintenance_margin_rate=D("0.005"), liquidation_fee_rate=D("0.005"),
            max_leverage=D(100),
        ),
    ),
)  # fmt: skip

# -- OKX --------------------------------------------------------------------
# Fees: okx.com/fees, regular user Lv1: spot 0.080% maker / 0.100% taker; perpetual swaps
# 0.020% maker / 0.050% taker. "Liquidation penalty: MMR of the corresponding positions"
# (same page), so the liquidation fee rate equals the MMR.
# Instruments: GET /api/v5/public/instruments as answered by the live venue (a recording of
# 2026-09-25): BTC-USDT tickSz 0.1, lotSz 0.00000001, minSz 0.00001; ETH-USDT tickSz 0.01,
# lotSz 0.000001, minSz 0.0001; BTC-USDT-SWAP ctVal 0.01 BTC, tickSz 0.1, lotSz/minSz 0.01,
# maxMktSz 35000, lever 100; ETH-USDT-SWAP ctVal 0.1 ETH, tickSz 0.01, lotSz/minSz 0.01,
# maxMktSz 90000. Swap amounts are CONTRACTS. Position tiers (GET /api/v5/public/
# position-tiers), tier 1 of BTC-USDT and ETH-USDT: imr 0.01, mmr 0.004.
# Behaviour: a clOrdId is refused while an open order holds it (51016 "Duplicated client
# order ID") and may be used again after; a post_only order that would take is created and
# canceled by the system (cancelSource 31); an IOC's unfilled rest is canceled.

OKX = VenueRules(
    venue="okx",
    client_id_policy=ClientIdPolicy.REUSE_AFTER_CLOSE,
    kill_status=OrderStatus.CANCELED,
    post_only_taking_spot=OrderStatus.CANCELED,
    post_only_taking_swap=OrderStatus.CANCELED,
    markets=(
        MarketRules(
            symbol="BTC/USDT", id="BTC-USDT", type=MarketType.SPOT, base="BTC", quote="USDT",
            price_tick=D("0.1"), amount_step=D("0.00000001"), min_amount=D("0.00001"),
            maker_fee=D("0.0008"), taker_fee=D("0.001"),
        ),
        MarketRules(
            symbol="ETH/USDT", id="ETH-USDT", type=MarketType.SPOT, base="ETH", quote="USDT",
            price_tick=D("0.01"), amount_step=D("0.000001"), min_amount=D("0.0001"),
            maker_fee=D("0.0008"), taker_fee=D("0.001"),
        ),
        MarketRules(
            symbol="BTC/USDT:USDT", id="BTC-USDT-SWAP", type=MarketType.SWAP, base="BTC",
            quote="USDT", settle="USDT", contract_size=D("0.01"), price_tick=D("0.1"),
            amount_step=D("0.01"), min_amount=D("0.01"), max_amount=D(100_000_000),
            max_market_amount=D(35000), maker_fee=D("0.0002"), taker_fee=D("0.0005"),
            maintenance_margin_rate=D("0.004"), liquidation_fee_rate=D("0.004"),
            max_leverage=D(100),
        ),
        MarketRules(
            symbol="ETH/USDT:USDT", id="ETH-USDT-SWAP", type=MarketType.SWAP, base="ETH",
            quote="USDT", settle="USDT", contract_size=D("0.1"), price_tick=D("0.01"),
            amount_step=D("0.01"), min_amount=D("0.01"), max_amount=D(100_000_000),
            max_market_amount=D(90000), maker_fee=D("0.0002"), taker_fee=D("0.0005"),
            maintenance_margin_rate=D("0.004"), liquidation_fee_rate=D("0.004"),
            max_leverage=D(100),
        ),
    ),
)  # fmt: skip

# -- HYPERLIQUID --------------------------------------------------------------
# Fees: Hyperliquid docs, "Fees", base tier (< $5M 14-day volume) perps 0.015% maker /
# 0.045% taker. Perps only, settled in USDC, funding every hour.
# Instruments: the info endpoint's meta (szDecimals BTC 5, ETH 4; maxLeverage BTC 40, ETH 25).
# Prices: at most 5 significant figures and at most 6 - szDecimals decimals; as one fixed
# tick that is 1 for BTC between 10,000 and 99,999 and 0.1 for ETH between 1,000 and 9,999
# (a simplification: the real tick moves with the price's magnitude).
# Orders below $10 of notional are refused ("Order must have minimum value of $10").
# Maintenance margin is half the initial margin at maximum leverage (docs, "Margining"):
# BTC 1/40/2 = 1.25%, ETH 1/25/2 = 2%. Liquidations are market orders into the book with no
# separate clearance fee.
# Behaviour: a cloid is treated as never reusable; an ALO order that would take is refused
# ("Post only order would have immediately matched"); an IOC that matches nothing is refused
# ("Order could not immediately match"); there is no FOK.

HYPERLIQUID = VenueRules(
    venue="hyperliquid",
    client_id_policy=ClientIdPolicy.NEVER_REUSE,
    kill_status=OrderStatus.CANCELED,
    post_only_taking_spot=None,
    post_only_taking_swap=None,
    unfilled_ioc_raises=True,
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.PO}),
    markets=(
        MarketRules(
            symbol="BTC/USDC:USDC", id="BTC", type=MarketType.SWAP, base="BTC", quote="USDC",
            settle="USDC", price_tick=D(1), amount_step=D("0.00001"), min_amount=D("0.00001"),
            min_cost=D(10), maker_fee=D("0.00015"), taker_fee=D("0.00045"),
            maintenance_margin_rate=D("0.0125"), max_leverage=D(40),
            funding_interval_hours=D(1),
        ),
        MarketRules(
            symbol="ETH/USDC:USDC", id="ETH", type=MarketType.SWAP, base="ETH", quote="USDC",
            settle="USDC", price_tick=D("0.1"), amount_step=D("0.0001"),
            min_amount=D("0.0001"), min_cost=D(10), maker_fee=D("0.00015"),
            taker_fee=D("0.00045"), maintenance_margin_rate=D("0.02"), max_leverage=D(25),
            funding_interval_hours=D(1),
        ),
    ),
)  # fmt: skip

VENUE_RULES: dict[str, VenueRules] = {
    rules.venue: rules for rules in (BINANCE, BYBIT, OKX, HYPERLIQUID)
}


def venue_rules(venue: str) -> VenueRules:
    """Return the rules table of ``venue``; ``InvalidValue`` if there is none."""
    try:
        return VENUE_RULES[venue]
    except KeyError:
        raise InvalidValue(
            "venue", venue, f"no paper rules; known venues: {sorted(VENUE_RULES)}"
        ) from None


def scaled_fees(rules: VenueRules, multiplier: Decimal) -> VenueRules:
    """Return ``rules`` with every market's maker and taker fee times ``multiplier`` (stress)."""
    markets = tuple(
        replace(m, maker_fee=m.maker_fee * multiplier, taker_fee=m.taker_fee * multiplier)
        for m in rules.markets
    )
    return replace(rules, markets=markets)
