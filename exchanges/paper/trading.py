"""The account side of the paper venue: orders, matching against the book, fills, margin.

``VenueCore`` holds the state and the order path; ``venue.PaperVenue`` adds the
market-data side (events, funding, the liquidation model) and the async port. A
refused order raises a ``DeniedError`` before anything is changed: every check runs
first, then the order is booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from core.clock import Clock
from core.errors import (
    DeniedError,
    InsufficientFunds,
    InvalidOrder,
    InvalidValue,
    OrderNotFound,
    UnknownSymbol,
)
from core.events import (
    FundingPayment,
    Liquidation,
    VenueEvent,
)
from core.models import (
    Balances,
    Market,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TakerOrMaker,
    TimeInForce,
    Trade,
)
from core.money import ONE, ZERO, quantize_to_step
from exchanges.paper import audit, views
from exchanges.paper.account import Account, LoanTerms
from exchanges.paper.config import PaperVenueConfig
from exchanges.paper.ledger import LedgerEntry, LedgerKind
from exchanges.paper.liquidation_model import LiquidationModel
from exchanges.paper.matching import consume, crossed_by_print, slipped, walk, would_take
from exchanges.paper.orders import (
    ClientIdRegistry,
    FillRecord,
    OrderRecord,
    RestingOrders,
)
from exchanges.paper.queue import join_ahead, trade_at_price
from exchanges.paper.rules import MarketRules, VenueRules, scaled_fees, venue_rules
from exchanges.paper.validation import check_number, checked_request

_STAT_KEYS = (
    "books_seen",
    "book_updates",
    "top_of_book_updates",
    "trades",
    "bars",
    "marks",
    "funding_events",
    "funding_payments",
    "orders",
    "fills",
    "rejections",
    "cancels",
    "model_liquidations",
    "recorded_liquidations",
    "own_liquidations",
    "loans",
    "interest_charges",
    "gaps",
    "ignored_events",
    "stale_levels_dropped",
)


_HOUR_NS = 3600 * 10**9


class VenueCore:
    """The account side of a paper venue: markets, books, orders, fills, balances, positions."""

    def __init__(
        self,
        venue: str,
        clock: Clock,
        *,
        seed: int = 0,
        config: PaperVenueConfig | None = None,
        initial_balances: Mapping[str, Decimal] | None = None,
        rules: VenueRules | None = None,
    ) -> None:
        self._rules = rules if rules is not None else venue_rules(venue)
        if self._rules.venue != venue:
            raise InvalidValue("rules", self._rules.venue, f"are not the rules of {venue!r}")
        self._venue = venue
        self._clock = clock
        self._config = config if config is not None else PaperVenueConfig()
        if self._config.fee_multiplier != ONE:
            self._rules = scaled_fees(self._rules, self._config.fee_multiplier)
        self._slippage = self._config.taker_slippage_bps / 10_000
        self._cash_step = self._rules.cash_step
        self._markets: dict[str, Market] = {
            r.symbol: r.to_market(venue) for r in self._rules.markets
        }
        self._states: dict[str, views.SymbolState] = {
            r.symbol: views.SymbolState(venue, r) for r in self._rules.markets
        }
        self._marks: dict[str, Decimal] = {}
        self._account = Account(self._config.leverage)
        self._interest_hour: int | None = None
        margin = self._config.spot_margin
        if margin.enabled:
            for r in self._rules.markets:  # the first spot market of a base carries its loan
                if r.is_spot and r.base not in self._account.loan_terms:
                    self._account.loan_terms[r.base] = LoanTerms(
                        r.base, r.quote, r.symbol, margin.rate_of(r.base), margin.leverage,
                        margin.maintenance_margin_rate,
                    )  # fmt: skip
        self._orders: dict[str, OrderRecord] = {}
        self._open: dict[str, OrderRecord] = {}
        self._resting: dict[str, RestingOrders] = {
            r.symbol: RestingOrders() for r in self._rules.markets
        }
        self._client_ids = ClientIdRegistry(self._rules.client_id_policy)
        self._fills: list[FillRecord] = []
        self._order_seq = 0
        self._trade_seq = 0
        self._event_ns = 0
        self._stats: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)
        self._pending: list[VenueEvent] = []  # events the venue made, returned with the next batch
        model_config = self._config.liquidation_model
        self._model: LiquidationModel | None = None
        if model_config.enabled:
            self._model = LiquidationModel(model_config, seed)
            for r in self._rules.markets:
                if not r.is_spot:
                    self._model.add_symbol(
                        r.symbol,
                        r.maintenance_margin_rate,
                        r.contract_size,
                        price_tick=r.price_tick,
                        amount_step=r.amount_step,
                    )
        for asset, amount in (initial_balances or {}).items():
            self.deposit(asset, amount)

    @property
    def venue(self) -> str:
        return self._venue

    @property
    def rules(self) -> VenueRules:
        return self._rules

    # -- ACCOUNT --------------------------------------------------------------

    def now_ns(self) -> int:
        """Return the venue's time: the later of the clock and the last event."""
        now = self._clock.now_ns()
        return now if now > self._event_ns else self._event_ns

    def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    @property
    def fill_count(self) -> int:
        """How many fills the venue has booked (a caller polls trades only when it grew)."""
        return len(self._fills)

    def deposit(self, asset: str, amount: Decimal) -> None:
        """Credit ``amount`` of ``asset`` (a ledger deposit)."""
        check_number("amount", amount)
        self._account.post(self.now_ns(), asset, amount, LedgerKind.DEPOSIT)

    def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        """Set ``symbol``'s leverage; refused while the position or orders are open."""
        rules = self._rules_for(symbol)
        if rules.is_spot:
            raise InvalidValue("symbol", symbol, "spot markets have no leverage")
        check_number("leverage", leverage)
        if leverage < 1 or leverage > rules.max_leverage:
            raise InvalidValue("leverage", leverage, f"must be within [1, {rules.max_leverage}]")
        position = self._account.positions.get(symbol)
        if (position is not None and position.contracts) or self._resting[symbol]:
            raise InvalidOrder(f"{self._venue}: close {symbol}'s position and orders first")
        self._account.leverage[symbol] = leverage
        if position is not None:
            position.leverage = leverage

    def balances(self) -> Balances:
        return self._account.balances(self._venue, self.now_ns() // 1_000_000)

    def ledger(self) -> tuple[LedgerEntry, ...]:
        return self._account.ledger.entries()

    def stats(self) -> dict[str, int]:
        stats = dict(self._stats)
        stats["books_seen"] = sum(
            1 for s in self._states.values() if len(s.book.bids) or len(s.book.asks) or s.has_depth
        )
        return stats

    def check_conservation(self) -> list[str]:
        """Return every broken bookkeeping invariant (empty when all hold)."""
        return audit.violations(
            self._account, self.balances(), self._orders.values(), self._fills, self._open
        )

    # -- ORDERS ---------------------------------------------------------------

    def submit(self, request: OrderRequest) -> Order:
        """Place ``request``; return the order as the venue shows it right after matching.

        Raise a ``DeniedError`` (``UnknownSymbol``, ``InvalidValue``, ``InvalidOrder``,
        ``InsufficientFunds``, ``DuplicateClientOrderId``, ``NotSupported``) and change
        nothing when the venue refuses it.
        """
        try:
            return self._submit(request).to_order(self._venue)
        except DeniedError:
            self._stats["rejections"] += 1
            raise

    def cancel(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Cancel an open order; ``OrderNotFound`` if unknown or already closed."""
        order = self._find(symbol, id, client_order_id)
        if order.status is not OrderStatus.OPEN:
            raise OrderNotFound(f"{self._venue}: order {order.id} is already {order.status}")
        self._finish(order, OrderStatus.CANCELED)
        self._stats["cancels"] += 1
        return order.to_order(self._venue)

    def get_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        """Return one order by venue id or (the latest with) a client order id."""
        return self._find(symbol, id, client_order_id).to_order(self._venue)

    def all_orders(self) -> list[Order]:
        """Return every order this venue ever accepted, oldest first (for invariant checks)."""
        return [o.to_order(self._venue) for o in self._orders.values()]

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [
            o.to_order(self._venue)
            for o in self._open.values()
            if symbol is None or o.symbol == symbol
        ]

    def my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        """Return our fills, oldest first, from ``since`` (ms, inclusive), at most ``limit``."""
        chosen = [
            f
            for f in self._fills
            if (symbol is None or f.symbol == symbol) and (since is None or f.timestamp_ms >= since)
        ]
        if limit is not None:
            chosen = chosen[:limit]
        return [f.to_trade(self._venue) for f in chosen]

    def _rules_for(self, symbol: str) -> MarketRules:
        state = self._states.get(symbol)
        if state is None:
            raise UnknownSymbol(symbol, self._venue)
        return state.rules

    def _find(self, symbol: str, order_id: str | None, client_order_id: str | None) -> OrderRecord:
        self._rules_for(symbol)
        order: OrderRecord | None = None
        if order_id is not None:
            order = self._orders.get(order_id)
        elif client_order_id is not None:
            order = self._client_ids.latest(client_order_id)
        else:
            raise InvalidValue("id", None, "give an order id or a client order id")
        if order is None or order.symbol != symbol:
            raise OrderNotFound(
                f"{self._venue}: no order {order_id or client_order_id!r} on {symbol}"
            )
        return order

    def _submit(self, request: OrderRequest) -> OrderRecord:
        rules = self._rules_for(request.symbol)
        market = self._markets[request.symbol]
        state = self._states[request.symbol]
        side, order_type, tif, amount, price, post_only = checked_request(
            request, rules, market, self._rules, state
        )
        is_buy = side is Side.BUY
        is_market = order_type is OrderType.MARKET
        opposite = state.book.asks if is_buy else state.book.bids
        client_order_id = request.client_order_id
        self._client_ids.check(client_order_id, self._venue)
        sign = 1 if is_buy else -1
        position = None if rules.is_spot else self._account.positions.get(rules.symbol)
        if request.reduce_only:
            if position is None or not position.contracts or (position.contracts > 0) == is_buy:
                raise InvalidOrder(
                    f"{self._venue}: reduce-only {side} {rules.symbol} would open or increase a position"
                )
            if amount > position.size():
                amount = position.size()

        if post_only and price is not None and would_take(opposite, is_buy, price):
            status = (
                self._rules.post_only_taking_spot
                if rules.is_spot
                else self._rules.post_only_taking_swap
            )
            if status is None:
                raise InvalidOrder(
                    f"{self._venue}: post-only {side} at {price} would take liquidity"
                )
            order = self._new_order(rules, request, side, order_type, amount, price, tif, post_only)
            self._finish(order, status)
            return order

        taken, filled, value = ([], ZERO, ZERO) if post_only else walk(opposite, amount, price)
        kill = is_market or tif in (TimeInForce.IOC, TimeInForce.FOK)
        if kill and not filled and self._rules.unfilled_ioc_raises:
            raise InvalidOrder(f"{self._venue}: {side} {rules.symbol} could not match immediately")
        if tif is TimeInForce.FOK and filled < amount:
            order = self._new_order(rules, request, side, order_type, amount, price, tif, post_only)
            self._finish(order, self._rules.kill_status)
            return order
        rest = ZERO if kill else amount - filled
        lock_unit, lock_total = self._check_funds(
            rules, sign, amount, filled, value, rest, price, request.reduce_only
        )

        order = self._new_order(rules, request, side, order_type, amount, price, tif, post_only)
        now_ns = self.now_ns()
        if taken:
            ms = now_ns // 1_000_000
            for level_price, level_amount in taken:
                if self._slippage:
                    level_price = slipped(level_price, sign, self._slippage, rules.price_tick)
                self._fill(order, level_price, level_amount, TakerOrMaker.TAKER, ms, now_ns)
            if self._config.consume_book_liquidity:
                consume(opposite, taken)
                if not rules.is_spot:
                    self._refresh_mark(state, None)
        if rest:
            self._rest(order, lock_unit, lock_total)
        else:
            self._finish(
                order,
                OrderStatus.CLOSED if order.filled == order.amount else self._rules.kill_status,
            )
        if taken and not rules.is_spot:
            self._check_margin(rules.margin_asset, now_ns)
        return order

    def _check_funds(
        self,
        rules: MarketRules,
        sign: int,
        amount: Decimal,
        filled: Decimal,
        value: Decimal,
        rest: Decimal,
        price: Decimal | None,
        reduce_only: bool,
    ) -> tuple[Decimal, Decimal]:
        """Raise ``InsufficientFunds`` unless the account can pay the order.

        Return what its resting rest locks: (per unit, in total). Spot buys lock the
        quote at the taker rate so that any fill can pay its fee; perps lock the initial
        margin of the part that would add to the position.
        """
        account = self._account
        taker = rules.taker_fee
        if account.loan_terms and account.loans():
            self._refresh_loan_prices()  # a loan's value moves the quote's margin
        if rules.is_spot:
            if sign > 0:
                asset = rules.quote
                lock_unit = price * (ONE + taker) if price is not None else ZERO
                lock_total = rest * lock_unit
                need = value * (ONE + taker) + lock_total
                free = min(account.free(asset), account.available(asset, self._marks))
            else:
                asset, lock_unit, lock_total = rules.base, ONE, rest
                need, free = amount, account.free(asset)
                if need > free and rules.base in account.loan_terms:
                    self._check_loan(rules, filled, value, rest, free)
                    return lock_unit, ZERO
        else:
            cs, asset = rules.contract_size, rules.margin_asset
            position = account.positions.get(rules.symbol)
            opening = ZERO
            if not reduce_only:
                opening = position.opening_amount(sign, amount) if position is not None else amount
            closable = amount - opening
            immediate_open = filled - closable if filled > closable else ZERO
            rest_open = opening - immediate_open
            leverage = account.leverage_of(rules.symbol)
            lock_unit = lock_total = ZERO
            if price is not None and rest_open:
                lock_unit = (price * cs / leverage).quantize(self._cash_step, ROUND_UP)
                lock_total = rest_open * lock_unit
            need = value * cs * taker + lock_total
            if immediate_open:
                need += value * cs * immediate_open / filled / leverage
            free = account.available(asset, self._marks) if need else ZERO
        if need > free:
            raise InsufficientFunds(
                f"{self._venue}: {rules.symbol} needs {need} {asset}, {free} available"
            )
        return lock_unit, lock_total

    # -- SPOT MARGIN ----------------------------------------------------------

    def _check_loan(
        self, rules: MarketRules, filled: Decimal, value: Decimal, rest: Decimal, free: Decimal
    ) -> None:
        """Raise unless a spot sell beyond the holding may borrow the rest (spot margin).

        Only what fills at once is lent: a resting sell that would borrow is refused (the
        paper venue does not hold a loan open for an order on the book). The loan's initial
        margin and the sell's fee must fit in what the quote asset has available.
        """
        if rest:
            raise InvalidOrder(
                f"{self._venue}: a resting {rules.symbol} sell beyond the holding would borrow; "
                "only orders that fill at once are lent to"
            )
        borrow = filled - (free if free > 0 else ZERO)
        terms = self._account.loan_terms[rules.base]
        if borrow <= 0 or not filled:
            return
        self._refresh_loan_prices()
        price = value / filled
        marks = dict(self._marks)
        marks.setdefault(terms.symbol, price)
        need = borrow * price / terms.leverage + value * rules.taker_fee
        available = self._account.available(terms.quote, marks)
        if need > available:
            raise InsufficientFunds(
                f"{self._venue}: borrowing {borrow} {rules.base} needs {need} {terms.quote} "
                f"of margin, {available} available"
            )
        self._stats["loans"] += 1

    def _refresh_loan_prices(self) -> None:
        """Put each borrowable asset's spot price among the marks the margin arithmetic reads."""
        for terms in self._account.loan_terms.values():
            price = self._states[terms.symbol].reference_price()
            if price is not None:
                self._marks[terms.symbol] = price

    def _accrue_interest(self, ts_ns: int) -> None:
        """Charge each loan's interest for every hour that turned before ``ts_ns``.

        Charged on what is owed when the hour turns (as Bybit does), at the spot price,
        in the quote asset; each charge is a ledger entry and a ``FundingPayment`` on the
        spot symbol (rate = minus the hourly rate), which the gateway books on the agents
        that are short that spot asset.
        """
        hour = ts_ns // _HOUR_NS
        if self._interest_hour is None or hour <= self._interest_hour:
            if self._interest_hour is None:
                self._interest_hour = hour
            return
        hours = hour - self._interest_hour
        self._interest_hour = hour
        at_ns = hour * _HOUR_NS
        for base, owed in sorted(self._account.loans().items()):
            terms = self._account.loan_terms[base]
            price = self._states[terms.symbol].reference_price()
            if price is None:
                continue
            rate = terms.rate_per_hour * hours
            amount = -(owed * price * rate).quantize(self._cash_step, ROUND_HALF_EVEN)
            if not amount:
                continue
            self._account.post(
                at_ns, terms.quote, amount, LedgerKind.INTEREST, terms.symbol, str(at_ns)
            )
            self._stats["interest_charges"] += 1
            self._pending.append(
                FundingPayment(at_ns, self._venue, terms.symbol, -rate, price, amount)
            )

    def _new_order(
        self,
        rules: MarketRules,
        request: OrderRequest,
        side: Side,
        order_type: OrderType,
        amount: Decimal,
        price: Decimal | None,
        tif: TimeInForce,
        post_only: bool,
    ) -> OrderRecord:
        self._order_seq += 1
        order = OrderRecord(
            self._order_seq,
            str(self._order_seq),
            request.client_order_id,
            rules,
            side,
            order_type,
            amount,
            price,
            None if order_type is OrderType.MARKET else tif,
            post_only,
            bool(request.reduce_only),
            self.now_ns() // 1_000_000,
        )
        self._orders[order.id] = order
        self._open[order.id] = order
        self._client_ids.add(order)
        self._stats["orders"] += 1
        return order

    def _rest(self, order: OrderRecord, lock_unit: Decimal, lock_total: Decimal) -> None:
        rules = order.rules
        if rules.is_spot:
            order.lock_asset = rules.quote if order.is_buy else rules.base
        else:
            order.lock_asset = rules.margin_asset
        order.lock_per_unit = lock_unit
        order.locked = lock_total
        self._account.lock(order.lock_asset, order.locked)
        # Queue position (queue.py): at the back of what the book shows at its price.
        state = self._states[order.symbol]
        resting = self._resting[order.symbol]
        order.queue_ahead = join_ahead(
            order,
            state.book.bids if order.is_buy else state.book.asks,
            resting.buys if order.is_buy else resting.sells,
            state.has_depth,
        )
        order.queue_traded = ZERO
        resting.add(order)

    def _finish(self, order: OrderRecord, status: OrderStatus) -> None:
        """Close ``order`` with ``status`` and release whatever it still locks."""
        if order.status is OrderStatus.OPEN and order.price is not None:
            self._resting[order.symbol].remove(order)
        order.status = status
        self._open.pop(order.id, None)
        if order.locked and order.lock_asset is not None:
            self._account.unlock(order.lock_asset, order.locked)
            order.locked = ZERO

    def _fill(
        self,
        order: OrderRecord,
        price: Decimal,
        amount: Decimal,
        liquidity: TakerOrMaker,
        ms: int,
        now_ns: int,
        fee_rate: Decimal | None = None,
    ) -> None:
        """Book one fill of ``order``: cash or position, fee, order totals, the fill record."""
        rules = order.rules
        account = self._account
        post = account.ledger.post
        if fee_rate is None:
            fee_rate = rules.taker_fee if liquidity is TakerOrMaker.TAKER else rules.maker_fee
        cost = price * amount * rules.contract_size
        fee = cost * fee_rate
        self._trade_seq += 1
        trade_id = str(self._trade_seq)
        symbol = rules.symbol
        if order.locked:
            release = amount * order.lock_per_unit
            if release > order.locked:
                release = order.locked
            order.locked -= release
            account.unlock(order.lock_asset or rules.margin_asset, release)
        if rules.is_spot:
            base_flow, quote_flow = (amount, -cost) if order.is_buy else (-amount, cost)
            post(now_ns, rules.quote, quote_flow, LedgerKind.TRADE, symbol, trade_id)
            post(now_ns, rules.base, base_flow, LedgerKind.TRADE, symbol, trade_id)
        else:
            position = account.position(rules)
            pnl = position.apply_fill(1 if order.is_buy else -1, amount, price, self._cash_step)
            post(now_ns, rules.margin_asset, pnl, LedgerKind.REALIZED_PNL, symbol, trade_id)
        post(now_ns, rules.margin_asset, -fee, LedgerKind.FEE, symbol, trade_id)
        order.filled += amount
        order.cost += cost
        order.fee += fee
        order.last_trade_ms = ms
        self._fills.append(
            FillRecord(trade_id, order, price, amount, cost, fee, fee_rate, liquidity, ms)
        )
        self._stats["fills"] += 1

    # -- RESTING ORDERS HIT BY THE MARKET --------------------------------------

    def _cross_resting(
        self,
        rules: MarketRules,
        print_price: Decimal,
        available: Decimal,
        ts_ns: int,
        at_touch: bool,
        *,
        buys: bool = True,
        sells: bool = True,
    ) -> tuple[Decimal, Decimal]:
        """Fill our resting limits a print at ``print_price`` goes through, sharing ``available``.

        Best price first, then time. Each fill is at the order's own price, as maker, and
        a whole number of lots. Return what is left of ``available`` on the buy and on the
        sell side.
        """
        resting = self._resting[rules.symbol]
        if not resting:
            return available, available
        ms = ts_ns // 1_000_000
        lefts: list[Decimal] = []
        for queue, is_buy, wanted in ((resting.buys, True, buys), (resting.sells, False, sells)):
            left = available
            while wanted and left > 0 and queue:
                order = queue[0]
                assert order.price is not None
                if not crossed_by_print(order.price, is_buy, print_price, at_touch):
                    break
                took = self._fill_resting(order, order.remaining, left, ms, ts_ns)
                if took is None:
                    continue
                if not took:
                    break
                left -= took
            lefts.append(left)
        return lefts[0], lefts[1]

    def _fill_resting(
        self, order: OrderRecord, want: Decimal, left: Decimal, ms: int, ts_ns: int
    ) -> Decimal | None:
        """Fill up to ``want`` of a resting ``order`` from a print with ``left``; return the amount.

        ``None``: a reduce-only order whose position is gone was canceled instead.
        """
        rules = order.rules
        if order.reduce_only and not self._reduce_only_room(order):
            return None
        take = want
        if order.reduce_only:
            take = min(take, self._account.positions[rules.symbol].size())
        if take > left:
            take = quantize_to_step(left, rules.amount_step, "down")
        if take <= 0:
            return ZERO
        assert order.price is not None
        self._fill(order, order.price, take, TakerOrMaker.MAKER, ms, ts_ns)
        if order.filled == order.amount:
            self._finish(order, OrderStatus.CLOSED)
        elif order.reduce_only and not self._account.positions[rules.symbol].contracts:
            self._finish(order, OrderStatus.CANCELED)
        return take

    def _trade_resting(
        self, rules: MarketRules, price: Decimal, amount: Decimal, aggressor: str, ts_ns: int
    ) -> None:
        """Apply a public trade to our resting limits (the queue model of queue.py).

        A print through an order's price fills it (up to the print's amount); a print at
        its price, from an aggressor on the other side, first passes the queue ahead of
        it. With ``fill_at_touch`` any print at the price fills, queue ignored.
        """
        at_touch = self._config.fill_at_touch
        left_buys, left_sells = self._cross_resting(rules, price, amount, ts_ns, at_touch)
        resting = self._resting[rules.symbol]
        if at_touch or not resting:
            return
        hit_buys = aggressor == "sell"  # a sell hits the bids, a buy lifts the asks
        left = left_buys if hit_buys else left_sells
        ms = ts_ns // 1_000_000
        at_price = [o for o in (resting.buys if hit_buys else resting.sells) if o.price == price]
        for order in at_price:
            want = trade_at_price(order, amount, rules.amount_step)
            if want and left > 0 and order.status is OrderStatus.OPEN:
                took = self._fill_resting(order, want, left, ms, ts_ns)
                left -= took or ZERO

    def _reduce_only_room(self, order: OrderRecord) -> bool:
        """Cancel a resting reduce-only order whose position is gone; tell whether it may fill."""
        position = self._account.positions.get(order.symbol)
        if position is None or not position.contracts or (position.contracts > 0) == order.is_buy:
            self._finish(order, OrderStatus.CANCELED)
            return False
        return True

    # -- MARGIN AND OWN LIQUIDATION ---------------------------------------------

    def _refresh_mark(self, state: views.SymbolState, fallback: Decimal | None) -> None:
        """Set a perp's mark: the feed's when it has one, else the book's mid, else ``fallback``."""
        if state.has_mark_feed:
            mark = state.mark
        else:
            mark = state.mid()
            if mark is None:
                mark = fallback
        if mark is not None:
            self._marks[state.rules.symbol] = mark

    def _check_margin(self, settle: str, now_ns: int) -> None:
        """Liquidate the positions margined in ``settle`` if equity is below maintenance."""
        account = self._account
        if not account.has_open(settle):
            return
        if account.loan_terms and account.loans():
            self._refresh_loan_prices()
        equity, _im, mm = account.margin(settle, self._marks)
        if equity < mm:
            self._liquidate_account(settle, now_ns)

    def _liquidate_account(self, settle: str, now_ns: int) -> None:
        """Close every ``settle`` position as the venue's liquidation engine would.

        Open perp orders go first (their margin is released), then each position is
        closed by a market order into the book, the rest at the mark when the book runs
        out. The trading fee is replaced by the liquidation fee of the rules; a deficit
        left after that is covered by the insurance fund, as on the real venues.
        """
        for order in list(self._open.values()):
            if not order.rules.is_spot and order.rules.margin_asset == settle:
                self._finish(order, OrderStatus.CANCELED)
        ms = now_ns // 1_000_000
        for position in self._account.open_positions(settle):
            state = self._states[position.symbol]
            rules = state.rules
            is_buy = position.contracts < 0
            size = position.size()
            self._order_seq += 1
            order = OrderRecord(
                self._order_seq, str(self._order_seq), None, rules,
                Side.BUY if is_buy else Side.SELL, OrderType.MARKET, size, None, None,
                False, True, ms,
            )  # fmt: skip
            self._orders[order.id] = order
            self._open[order.id] = order
            opposite = state.book.asks if is_buy else state.book.bids
            taken, filled, _value = walk(opposite, size, None)
            for price, amount in taken:
                self._fill(order, price, amount, TakerOrMaker.TAKER, ms, now_ns, ZERO)
            if taken and self._config.consume_book_liquidity:
                consume(opposite, taken)
            if filled < size:
                mark = self._marks.get(rules.symbol) or state.reference_price()
                if mark is None:
                    mark = position.entry_price() or ZERO
                self._fill(order, mark, size - filled, TakerOrMaker.TAKER, ms, now_ns, ZERO)
            fee = order.cost * rules.liquidation_fee_rate
            self._account.post(
                now_ns, settle, -fee, LedgerKind.LIQUIDATION_FEE, rules.symbol, order.id
            )
            self._finish(order, OrderStatus.CLOSED)
            average = order.cost / (size * rules.contract_size)
            self._pending.append(
                Liquidation(
                    now_ns, self._venue, rules.symbol, order.side.value,
                    quantize_to_step(average, rules.price_tick), size, "model",
                )
            )  # fmt: skip
            self._stats["own_liquidations"] += 1
        cash = self._account.cash(settle)
        if cash < 0:
            self._account.post(now_ns, settle, -cash, LedgerKind.INSURANCE, None, "liquidation")
