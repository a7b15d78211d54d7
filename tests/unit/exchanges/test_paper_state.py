"""Saving a paper venue for a resumed run: the same venue back, or a clear error naming the file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.clock import SimulatedClock
from core.config import PaperConfig
from core.errors import DataFormatError
from core.events import TopOfBook
from core.models import OrderRequest, OrderType, Side, TimeInForce
from exchanges.paper.state import load_venue, save_venue
from exchanges.paper.venue import PaperVenue

SYMBOL = "BTC/USDT:USDT"


def venue_with_a_resting_order() -> PaperVenue:
    venue = PaperVenue.from_paper_config("bybit", SimulatedClock(), PaperConfig())
    venue.on_market_events(
        [
            TopOfBook(
                1_000,
                "bybit",
                SYMBOL,
                Decimal("17000.0"),
                Decimal(5),
                Decimal("17000.1"),
                Decimal(5),
            )
        ]
    )
    venue.submit(
        OrderRequest(
            symbol=SYMBOL,
            side=Side.BUY,
            type=OrderType.LIMIT,
            amount=Decimal("0.01"),
            price=Decimal("16900.0"),
            time_in_force=TimeInForce.GTC,
            client_order_id="swtest0000000001",
        )
    )
    return venue


def test_save_when_loaded_back_then_same_orders_balances_and_market_time(tmp_path: Path) -> None:
    venue = venue_with_a_resting_order()
    path = tmp_path / "venues" / "bybit.state"
    assert save_venue(path, "bybit", venue, 1_000) > 0
    restored, market_ns = load_venue(path, "bybit")
    assert market_ns == 1_000
    assert restored.open_orders(SYMBOL) == venue.open_orders(SYMBOL)
    assert restored.balances() == venue.balances()
    assert restored.check_conservation() == []
    assert not path.with_name(path.name + ".tmp").exists()


def test_load_when_other_venue_or_garbage_or_cut_then_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bybit.state"
    save_venue(path, "bybit", venue_with_a_resting_order(), 5)
    with pytest.raises(DataFormatError, match="holds venue 'bybit', not 'okx'"):
        load_venue(path, "okx")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFormatError, match="damaged"):
        load_venue(path, "bybit")
    other = tmp_path / "other.state"
    other.write_text("hello\n")
    with pytest.raises(DataFormatError, match=f"{other}: not a saved paper venue"):
        load_venue(other, "bybit")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_venue(tmp_path / "missing.state", "bybit")
