"""Stress scenarios: the market's prices shocked, funding flipped, the agents' view delayed."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from backtest.stress import DelayLine, Perturbation, flip_funding, shock
from core.config import PaperConfig
from core.errors import InvalidValue
from core.events import Bar, BookDelta, FundingEvent, MarkEvent, TopOfBook, TradeTick

V, S = "binance", "BTC/USDT:USDT"


def test_shock_when_factor_then_every_price_moves_and_amounts_stay() -> None:
    factor = D("0.97")
    top = shock(TopOfBook(1, V, S, D(100), D(2), D(101), D(3)), factor)
    assert isinstance(top, TopOfBook)
    assert (top.bid, top.ask, top.bid_size, top.ask_size) == (D(97), D("97.97"), D(2), D(3))
    trade = shock(TradeTick(1, V, S, D(100), D(5), "buy"), factor)
    assert isinstance(trade, TradeTick) and (trade.price, trade.amount) == (D(97), D(5))
    bar = shock(Bar(1, V, S, D(100), D(110), D(90), D(105), D(7), 60), factor)
    assert isinstance(bar, Bar)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        D(97), D("106.70"), D("87.30"), D("101.85"), D(7),
    )  # fmt: skip
    mark = shock(MarkEvent(1, V, S, D(100), D(100), funding_rate=D("0.0001")), factor)
    assert isinstance(mark, MarkEvent) and mark.mark_price == D(97)
    assert mark.funding_rate == D("0.0001")


def test_flip_funding_when_print_or_ticker_then_sign_changes() -> None:
    paid = flip_funding(FundingEvent(1, V, S, D("0.0003"), D(8), D(100)))
    assert isinstance(paid, FundingEvent) and paid.rate == D("-0.0003")
    ticker = flip_funding(MarkEvent(1, V, S, D(100), funding_rate=D("-0.0001")))
    assert isinstance(ticker, MarkEvent) and ticker.funding_rate == D("0.0001")
    trade = TradeTick(1, V, S, D(100), D(1), "sell")
    assert flip_funding(trade) is trade


def test_transform_when_shock_at_time_then_only_later_events_move() -> None:
    stressed = Perturbation("shock", price_shock_bps=D(-300), shock_ns=10).start()
    before = TradeTick(9, V, S, D(100), D(1), "buy")
    after = TradeTick(10, V, S, D(100), D(1), "buy")
    out = stressed.transform([before, after])
    assert out[0] is before
    assert isinstance(out[1], TradeTick) and out[1].price == D(97)


def test_transform_when_l2_book_shocked_then_resent_whole_and_shifted() -> None:
    """Differences alone would leave the old levels at the old prices: the book crosses."""
    stressed = Perturbation("shock", price_shock_bps=D(100), shock_ns=10).start()
    first = BookDelta(1, V, S, ((D(100), D(1)), (D(99), D(2))), ((D(101), D(1)),), snapshot=True)
    stressed.transform([first])
    change = BookDelta(10, V, S, ((D(99), D(0)),), ((D(102), D(4)),))
    (whole,) = stressed.transform([change])
    assert isinstance(whole, BookDelta) and whole.snapshot
    assert whole.bids == ((D(101), D(1)),)  # 99 removed, 100 -> 101
    assert whole.asks == ((D("102.01"), D(1)), (D("103.02"), D(4)))
    (later,) = stressed.transform([BookDelta(11, V, S, ((D(100), D(3)),), ())])
    assert isinstance(later, BookDelta) and not later.snapshot and later.bids == ((D(101), D(3)),)


def test_delay_line_when_latency_then_events_released_only_after_it() -> None:
    line = DelayLine(5)
    a, b = TradeTick(0, V, S, D(1), D(1), "buy"), TradeTick(3, V, S, D(1), D(1), "buy")
    line.push(0, [a])
    line.push(3, [b])
    assert line.release(4) == []
    assert line.release(5) == [a]
    assert len(line) == 1
    assert line.release(100) == [b]


def test_paper_when_fee_and_slippage_then_section_carries_them() -> None:
    paper = Perturbation("s", fee_multiplier=D(2), taker_slippage_bps=D(3)).paper(PaperConfig())
    assert paper.fee_multiplier == D(2) and paper.taker_slippage_bps == D(3)
    assert Perturbation().paper(PaperConfig()) == PaperConfig()
    assert Perturbation().is_base and not Perturbation(funding_flip=True).is_base


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"fee_multiplier": D(-1)}, "fee_multiplier"),
        ({"latency_ns": -1}, "latency_ns"),
        ({"price_shock_bps": D(100)}, "shock_ns"),
        ({"price_shock_bps": D(6000), "shock_ns": 1}, "price_shock_bps"),
    ],
)
def test_perturbation_when_bad_value_then_error_names_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidValue, match=field):
        Perturbation("bad", **kwargs)  # type: ignore[arg-type]
