from __future__ import annotations

from rich.console import Console

from cli.console import render_progress


def test_render_progress_when_trading_then_shows_feed_venues_and_agents() -> None:
    progress = {
        "events": 1536,
        "elapsed_s": 2.0,
        "market_time_ns": 1_670_915_280_000_000_000,
        "feed": {"gaps": 0, "funding_events": 3},
        "generated": {"liquidations": 5},
    }
    venues = {"bybit": {"books_seen": 2, "bars": 855, "orders": 315, "fills": 4}}
    trading = {
        "breaker": "closed",
        "wal": 812,
        "agents": {
            "mm": {
                "budget": "30,000",
                "orders": "315",
                "open": "2",
                "filled": "4",
                "fees": "0.14",
                "pnl": "0.45",
            }
        },
    }
    console = Console(record=True, width=120)
    console.print(render_progress(progress, venues, trading))
    text = console.export_text()
    assert "2022-12-13 07:08:00 UTC" in text and "1,536 (768/s)" in text
    assert "bybit" in text and "855" in text
    assert "breaker closed" in text and "mm" in text and "0.45" in text


def test_render_progress_when_an_agent_is_idle_then_its_reason_is_shown() -> None:
    progress = {"events": 10, "elapsed_s": 1.0, "market_time_ns": 0, "feed": {}}
    trading = {
        "breaker": "closed",
        "wal": 3,
        "agents": {"funding-arb": {"orders": "0"}},
        "idle": {"funding-arb": "best carry -21.0 %/yr after costs < entry 5.2 %/yr"},
    }
    console = Console(record=True, width=120)
    console.print(render_progress(progress, None, trading))
    text = console.export_text()
    assert "idle agents: why no order" in text
    assert "funding-arb  best carry -21.0 %/yr after costs < entry 5.2 %/yr" in text


def test_idle_reason_of_when_orders_then_none_else_strategy_reason_or_counters() -> None:
    from agents.idle import idle_reason_of

    assert idle_reason_of({"idle_reason": "x"}, orders=3) is None
    assert idle_reason_of({"idle_reason": "largest cascade 100k < 250k"}, 0) == (
        "largest cascade 100k < 250k"
    )
    assert idle_reason_of({"decisions": 0, "events": 3345}, 0) == (
        "no decision: none of its 3345 events called for one"
    )
    assert idle_reason_of({"decisions": 721, "idle_reason": None}, 0) == (
        "no order in 721 decisions (its strategy gave no reason)"
    )
