"""``PaperVenue``: the simulated exchange, one instance per venue, pure and deterministic.

It stands for the outside world in paper mode and in backtests: it rebuilds books from
the feed's events, matches our orders against them under the venue's rules (rules.py),
keeps the account (cash in a ledger, order locks, cross-margined perp positions),
settles funding, liquidates the account when its equity falls below maintenance, and
runs a synthetic population of other traders whose forced liquidations hit the book
(liquidation_model.py).

Time: the venue never reads the wall clock. Its "now" is the later of the injected
clock and the last event's ``ts_ns``, so a replay that does not advance the clock
still stamps fills at market time. Randomness comes only from ``seed``.

Matching, in short:
- market orders walk the book best first; what the book cannot fill is dropped with
  the venue's kill status, like a real venue's market protection;
- a marketable limit takes what crosses up to its price, then rests (GTC), drops the
  rest (IOC) or, FOK, fills nothing unless it fills whole;
- resting limits fill at their own price, as maker, from trades printing through them,
  from trades at their price once the queue ahead of them is gone (queue.py: the amount
  ahead is estimated from the replayed book, hftbacktest's probabilistic queue model;
  ``fill_at_touch`` ignores it), from bars whose low (buys) or high (sells) goes strictly
  through them (bars show no queue), up to the print's amount or ``bar_participation``
  of the bar's volume, and from forced liquidation orders sweeping through them;
- reduce-only is refused when there is no position to reduce in that direction and cut
  to the position's size when larger (Bybit documents the cut; Binance, OKX and
  Hyperliquid never let a reduce-only order open the other side either); on spot it is
  ``InvalidValue``;
- our market orders and forced liquidations take what they hit out of the book
  (``consume_book_liquidity``) until the feed's next update of those levels.

Marks: a perp's mark is the feed's ``MarkEvent`` once one has arrived, else the book's
mid, else the last trade or bar close. Book and order amounts are in the market's own
units (contracts for OKX swaps); ``MarkEvent.open_interest`` is read in those units too.
The synchronous methods are the core; the ``Exchange`` port's async methods call them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

from core.clock import Clock
from core.config import PaperConfig
from core.events import (
    Bar,
    BookDelta,
    FundingEvent,
    FundingPayment,
    GapEvent,
    Liquidation,
    MarketEvent,
    MarkEvent,
    TopOfBook,
    TradeTick,
    VenueEvent,
)
from core.models import (
    Balances,
    FundingRate,
    Market,
    Order,
    OrderBookSnapshot,
    OrderRequest,
    Position,
    Ticker,
    Trade,
)
from core.money import ZERO, quantize_to_step
from exchanges.paper import views
from exchanges.paper.config import LiquidationModelConfig, PaperVenueConfig, SpotMarginConfig
from exchanges.paper.ledger import LedgerKind
from exchanges.paper.liquidation_model import LiquidationModel, SyntheticLiquidation
from exchanges.paper.matching import consume, levels_better_than, walk
from exchanges.paper.queue import apply_depth, depth_touched
from exchanges.paper.trading import VenueCore
from exchanges.paper.views import SymbolState


class PaperVenue(VenueCore):
    """A simulated venue account fed by market data; implements the ``Exchange`` port."""

    _model_off_ns: int | None = None  # set when the first recorded liquidation arrives

    @classmethod
    def from_paper_config(cls, venue: str, clock: Clock, paper: PaperConfig) -> PaperVenue:
        """Build a venue from the application's ``[paper]`` section."""
        config = PaperVenueConfig(
            leverage=paper.leverage,
            liquidation_model=LiquidationModelConfig(enabled=paper.liquidation_model),
            spot_margin=SpotMarginConfig(
                enabled=venue in paper.spot_margin_venues,
                borrow_rate_per_hour=paper.spot_borrow_rate_per_hour,
            ),
            fee_multiplier=paper.fee_multiplier,
            taker_slippage_bps=paper.taker_slippage_bps,
        )
        return cls(
            venue, clock, seed=paper.seed, config=config, initial_balances=paper.starting_balances
        )

    @property
    def liquidation_model(self) -> LiquidationModel | None:
        """The synthetic population behind model liquidations (None when disabled or off)."""
        return self._model

    @property
    def model_off_ns(self) -> int | None:
        """When the first recorded liquidation switched the model off (None: it did not)."""
        return self._model_off_ns

    def stats(self) -> dict[str, int]:
        """The counters, with ``model_on`` (0/1) and ``model_off_ns`` (0: never switched off)."""
        stats = super().stats()
        stats["model_on"] = int(self._model is not None)
        stats["model_off_ns"] = self._model_off_ns or 0
        return stats

    def liquidation_source(self) -> str:
        """Say where this venue's liquidations come from, for the run's summary."""
        off = self.model_off_ns
        if off is not None:
            return f"recorded (the model was switched off by the first recorded print at {off})"
        if self._model is not None:
            return "model (no recorded liquidation in the data)"
        return "recorded" if self._stats["recorded_liquidations"] else "none"

    # -- MARKET DATA ----------------------------------------------------------

    def on_market_events(self, events: Iterable[MarketEvent]) -> list[VenueEvent]:
        """Apply a batch of the feed's events in order; return the events the venue made.

        Events of other venues and of symbols this venue does not list are ignored. The
        events made are ``Liquidation``s (the model's, and the account's own) and the
        account's ``FundingPayment``s.
        """
        out: list[VenueEvent] = []
        for event in events:
            self._on_event(event)
            if self._pending:
                out.extend(self._pending)
                self._pending.clear()
        return out

    def on_market_event(self, event: MarketEvent) -> list[VenueEvent]:
        """Apply one event; return the events the venue made."""
        return self.on_market_events((event,))

    def _on_event(self, event: MarketEvent) -> None:
        state = self._states.get(event.symbol) if event.venue == self._venue else None
        if state is None:
            self._stats["ignored_events"] += 1
            return
        ts_ns = event.ts_ns
        if ts_ns > self._event_ns:
            if self._account.loan_terms:
                self._accrue_interest(ts_ns)  # spot margin: interest for each hour that turned
            self._event_ns = ts_ns
        if ts_ns > state.ts_ns:
            state.ts_ns = ts_ns
        if isinstance(event, BookDelta):  # the common case first
            self._on_book_delta(state, event)
        elif isinstance(event, TradeTick):
            self._on_trade(state, event)
        elif isinstance(event, TopOfBook):
            self._on_top_of_book(state, event)
        elif isinstance(event, Bar):
            self._on_bar(state, event)
        elif isinstance(event, MarkEvent):
            self._on_mark(state, event)
        elif isinstance(event, FundingEvent):
            self._on_funding(state, event)
        elif isinstance(event, Liquidation):
            self._on_liquidation(state, event)
        elif isinstance(event, GapEvent):
            self._stats["gaps"] += 1
        else:
            self._stats["ignored_events"] += 1

    def _on_book_delta(self, state: SymbolState, event: BookDelta) -> None:
        book = state.book
        resting = self._resting[state.rules.symbol]
        touched = (
            depth_touched(resting, book, event.bids, event.asks, event.snapshot) if resting else ()
        )
        book.apply(event.bids, event.asks, event.snapshot)
        if touched:  # queue position of our orders at the levels that changed (queue.py)
            apply_depth(touched, book, True, self._config.queue)
        if event.sequence is not None:
            book.sequence = event.sequence
        book.ts_ns = event.ts_ns
        state.has_depth = True
        self._stats["book_updates"] += 1
        if not state.rules.is_spot:
            self._price_moved(state, state.mid(), event.ts_ns)

    def _on_top_of_book(self, state: SymbolState, event: TopOfBook) -> None:
        self._stats["top_of_book_updates"] += 1
        state.top_mid = (event.bid + event.ask) / 2
        if state.has_depth and event.bid < event.ask and event.ts_ns >= state.book.ts_ns:
            self._trim_stale_depth(state, event)
        if not state.has_depth:  # bar-driven data: the quote is the whole book
            resting = self._resting[state.rules.symbol]
            touched = depth_touched(resting, state.book, (), (), True) if resting else ()
            state.book.apply(((event.bid, event.bid_size),), ((event.ask, event.ask_size),), True)
            if touched:
                apply_depth(touched, state.book, False, self._config.queue)
        if not state.rules.is_spot:
            # With a depth book the quote only marks the price (it is often the fresher).
            self._price_moved(state, state.top_mid, event.ts_ns, quote_mark=state.has_depth)

    def _trim_stale_depth(self, state: SymbolState, event: TopOfBook) -> None:
        """Drop the depth levels a newer best bid and ask show are gone.

        Binance's bookTicker runs ahead of its depth stream: in the recorded BTCUSDT
        window the depth book's touch was found 52 USDT above the bookTicker's mid, and
        359 of 849 post-only quotes of the market maker, valid against the real touch,
        expired against its stale levels. A level
        better than a newer best price has traded or been cancelled; our resting orders'
        queues see its removal like any depth update.
        """
        book = state.book
        bids = levels_better_than(book.bids, event.bid)
        asks = levels_better_than(book.asks, event.ask)
        if not bids and not asks:
            return
        resting = self._resting[state.rules.symbol]
        touched = depth_touched(resting, book, bids, asks, False) if resting else ()
        book.apply(bids, asks, False)
        if touched:
            apply_depth(touched, book, True, self._config.queue)
        self._stats["stale_levels_dropped"] += len(bids) + len(asks)

    def _on_trade(self, state: SymbolState, event: TradeTick) -> None:
        self._stats["trades"] += 1
        state.last_price = event.price
        self._trade_resting(state.rules, event.price, event.amount, event.side, event.ts_ns)
        if not state.rules.is_spot:
            self._price_moved(state, event.price, event.ts_ns)

    def _on_bar(self, state: SymbolState, event: Bar) -> None:
        self._stats["bars"] += 1
        state.last_price = event.close
        rules = state.rules
        cap = event.volume * self._config.bar_participation
        at_touch = self._config.fill_at_touch
        # The path inside the bar is unknown; take the usual convention: a rising bar went
        # to its low first, a falling bar to its high first.
        rising = event.close >= event.open
        if rising:
            self._cross_resting(rules, event.low, cap, event.ts_ns, at_touch, sells=False)
        self._cross_resting(rules, event.high, cap, event.ts_ns, at_touch, buys=False)
        if not rising:
            self._cross_resting(rules, event.low, cap, event.ts_ns, at_touch, sells=False)
        path = (event.low, event.high) if rising else (event.high, event.low)
        if not rules.is_spot:
            if self._model is not None:
                for price in (event.open, *path):
                    self._run_model(state, price, event.ts_ns)
            self._price_moved(state, event.close, event.ts_ns)

    def _on_mark(self, state: SymbolState, event: MarkEvent) -> None:
        self._stats["marks"] += 1
        symbol = state.rules.symbol
        if event.index_price is not None:
            state.index = event.index_price
        if event.funding_rate is not None:
            state.predicted_funding_rate = event.funding_rate
        if event.next_funding_ns is not None:
            state.next_funding_ns = event.next_funding_ns
        if event.open_interest is not None and event.open_interest > 0:
            state.open_interest = event.open_interest
            if self._model is not None:
                self._model.set_open_interest(symbol, event.open_interest)
        if event.mark_price is not None and event.mark_price > 0:
            state.mark = event.mark_price
            state.has_mark_feed = True
            if not state.rules.is_spot:
                self._price_moved(state, event.mark_price, event.ts_ns)

    def _price_moved(
        self, state: SymbolState, observed: Decimal | None, ts_ns: int, quote_mark: bool = False
    ) -> None:
        """After a perp's price moved: update its mark, run the model, check our margin.

        ``quote_mark``: ``observed`` is a quote's mid to use as the mark as it is.
        """
        rules = state.rules
        if quote_mark and observed is not None and not state.has_mark_feed:
            self._marks[rules.symbol] = observed
        else:
            self._refresh_mark(state, observed)
        if self._model is not None and observed is not None:
            self._run_model(state, observed, ts_ns)
        self._check_margin(rules.margin_asset, ts_ns)

    # -- FUNDING --------------------------------------------------------------

    def _on_funding(self, state: SymbolState, event: FundingEvent) -> None:
        """Settle one funding print: longs pay shorts ``rate`` times notional when rate > 0."""
        rules = state.rules
        if rules.is_spot:
            self._stats["ignored_events"] += 1
            return
        if state.last_funding_ns is not None and event.ts_ns <= state.last_funding_ns:
            return  # the same settlement twice (a replayed batch) is paid once
        state.last_funding_ns = event.ts_ns
        state.last_funding_rate = event.rate
        self._stats["funding_events"] += 1
        position = self._account.positions.get(rules.symbol)
        if position is None or not position.contracts:
            return
        mark = event.mark_price or self._marks.get(rules.symbol)
        if mark is None:
            mark = position.entry_price() or ZERO
        payment = position.contracts * rules.contract_size * mark * event.rate
        amount = (-payment).quantize(self._cash_step, ROUND_HALF_EVEN)
        self._account.post(
            event.ts_ns, rules.margin_asset, amount, LedgerKind.FUNDING, rules.symbol,
            str(event.ts_ns),
        )  # fmt: skip
        self._stats["funding_payments"] += 1
        self._pending.append(
            FundingPayment(event.ts_ns, self._venue, rules.symbol, event.rate, mark, amount)
        )
        self._check_margin(rules.margin_asset, event.ts_ns)

    # -- FORCED LIQUIDATIONS OF OTHERS ------------------------------------------

    def _run_model(self, state: SymbolState, price: Decimal, ts_ns: int) -> None:
        assert self._model is not None
        for hit in self._model.observe(state.rules.symbol, price, ts_ns):
            self._execute_model_liquidation(state, hit, ts_ns)

    def _execute_model_liquidation(
        self, state: SymbolState, hit: SyntheticLiquidation, ts_ns: int
    ) -> None:
        rules = state.rules
        amount = quantize_to_step(hit.amount, rules.amount_step, "down")
        if amount <= 0:
            return
        limit = quantize_to_step(hit.bankruptcy_price, rules.price_tick)
        if limit <= 0:
            limit = rules.price_tick
        price = self._sweep(state, hit.side == "buy", amount, limit, ts_ns)
        self._stats["model_liquidations"] += 1
        sequence = self._stats["model_liquidations"]  # distinct prints stay distinct
        self._pending.append(
            Liquidation(
                ts_ns, self._venue, rules.symbol, hit.side, price, amount, "model", sequence
            )
        )

    def _on_liquidation(self, state: SymbolState, event: Liquidation) -> None:
        """Take a recorded forced order as the market's: it sweeps the book, and is published.

        The model only stands in for recorded liquidations: the first recorded print
        switches it off for good (both would count every cascade twice). The venue
        publishes each print it takes (with the events it made), so that the agents
        get liquidations from the venue alone, once: the model's, or the recorded ones.
        """
        if event.source != "recorded":
            # A model print arriving from outside (a recording of a paper run) is not the market.
            self._stats["ignored_events"] += 1
            return
        if self._model is not None:
            self._model = None
            self._model_off_ns = event.ts_ns
        self._stats["recorded_liquidations"] += 1
        self._pending.append(event)
        if event.amount > 0 and event.price > 0:
            self._sweep(state, event.side == "buy", event.amount, event.price, event.ts_ns)
            if not state.rules.is_spot:
                self._check_margin(state.rules.margin_asset, event.ts_ns)

    def _sweep(
        self, state: SymbolState, is_buy: bool, amount: Decimal, limit: Decimal, ts_ns: int
    ) -> Decimal:
        """Execute a forced order against the book and our resting orders; return its price.

        The book is walked down (up) to ``limit`` and loses what was taken; our resting
        limits on the other side fill as if the order printed at the worst price it
        reached (``limit`` when the book was empty), up to its whole amount.
        """
        rules = state.rules
        opposite = state.book.asks if is_buy else state.book.bids
        taken, filled, value = walk(opposite, amount, limit)
        if taken and self._config.consume_book_liquidity:
            consume(opposite, taken)
            if not rules.is_spot:
                self._refresh_mark(state, None)
        worst = taken[-1][0] if taken else limit
        self._cross_resting(
            rules, worst, amount, ts_ns, self._config.fill_at_touch,
            buys=not is_buy, sells=is_buy,
        )  # fmt: skip
        if not filled:
            return limit
        return quantize_to_step(value / filled, rules.price_tick)

    # -- VIEWS ----------------------------------------------------------------

    def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        """Return the open perp positions (cross margin), optionally of some symbols."""
        wanted = set(symbols) if symbols is not None else None
        account, marks = self._account, self._marks
        ms = self.now_ns() // 1_000_000
        out: list[Position] = []
        for position in account.open_positions():
            if wanted is not None and position.symbol not in wanted:
                continue
            same_settle = account.open_positions(position.settle)
            others = views.other_equity(
                account.cash(position.settle), same_settle, marks, position.symbol
            )
            rules = self._states[position.symbol].rules
            out.append(
                views.position_view(
                    self._venue, position, rules, marks.get(position.symbol), others, ms
                )
            )
        return out

    def order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        self._rules_for(symbol)
        return views.order_book_snapshot(
            self._venue, self._states[symbol], limit, self.now_ns() // 1_000_000
        )

    def ticker(self, symbol: str) -> Ticker:
        self._rules_for(symbol)
        return views.ticker(self._venue, self._states[symbol], self.now_ns() // 1_000_000)

    def funding_rates(self, symbols: Iterable[str] | None = None) -> dict[str, FundingRate]:
        ms = self.now_ns() // 1_000_000
        out: dict[str, FundingRate] = {}
        for symbol in symbols if symbols is not None else self._states:
            rules = self._rules_for(symbol)
            if rules.is_spot:
                continue
            rate = views.funding_rate(self._venue, self._states[symbol], ms)
            if rate is not None:
                out[symbol] = rate
        return out

    # -- THE EXCHANGE PORT ------------------------------------------------------

    async def load_markets(self, reload: bool = False) -> dict[str, Market]:
        return self.markets()

    async def create_order(self, request: OrderRequest) -> Order:
        return self.submit(request)

    async def cancel_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return self.cancel(symbol, id=id, client_order_id=client_order_id)

    async def fetch_order(
        self, symbol: str, *, id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return self.get_order(symbol, id=id, client_order_id=client_order_id)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        return self.open_orders(symbol)

    async def fetch_my_trades(
        self, symbol: str | None = None, since: int | None = None, limit: int | None = None
    ) -> list[Trade]:
        return self.my_trades(symbol, since, limit)

    async def fetch_positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        return self.positions(symbols)

    async def fetch_balance(self) -> Balances:
        return self.balances()

    async def fetch_funding_rates(
        self, symbols: Sequence[str] | None = None
    ) -> dict[str, FundingRate]:
        return self.funding_rates(symbols)

    async def fetch_order_book(self, symbol: str, limit: int | None = None) -> OrderBookSnapshot:
        return self.order_book(symbol, limit)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        return self.ticker(symbol)

    async def close(self) -> None:
        return None
