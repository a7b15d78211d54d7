"""live: each condition refused in order with its own message; never a network call."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

import main
from cli.doctor import Check
from cli.live import live_gate
from core.config import LiveSection, PaperConfig, SwarmConfig

LIVE = SwarmConfig(
    mode="live", paper=PaperConfig(venues=("binance",)), live=LiveSection(account="acct-1")
)
KEYS = {"SWARM_BINANCE_API_KEY": "k" * 16, "SWARM_BINANCE_SECRET": "s" * 32}
ARMED = {**KEYS, "SWARM_LIVE_ACK": "acct-1"}


def _passing() -> Sequence[Check]:
    return [Check("risk limits", "pass", "ok")]


def _gate(config: SwarmConfig = LIVE, env: dict[str, str] = ARMED, **kw: object) -> object:
    kw.setdefault("doctor", _passing)
    kw.setdefault("confirm", "acct-1")
    kw.setdefault("ask", None)
    return live_gate(config, "live.toml", environ=env, **kw)  # type: ignore[arg-type]


def test_live_when_config_is_paper_then_refused_naming_the_mode() -> None:
    refusal = _gate(SwarmConfig())
    assert refusal.condition == "mode" and "mode = 'paper'" in refusal.message  # type: ignore[attr-defined]


def test_live_when_key_missing_then_refused_naming_the_variable_not_the_value() -> None:
    refusal = _gate(env={"SWARM_BINANCE_API_KEY": "k" * 16, "SWARM_LIVE_ACK": "acct-1"})
    assert refusal.condition == "keys"  # type: ignore[attr-defined]
    assert "SWARM_BINANCE_SECRET" in refusal.message and "kkkk" not in refusal.message  # type: ignore[attr-defined]


def test_live_when_no_account_in_config_then_refused() -> None:
    refusal = _gate(LIVE.model_copy(update={"live": LiveSection()}))
    assert refusal.condition == "account"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("ack", "said"), [(None, "is not set"), ("other", "is 'other'")])
def test_live_when_acknowledgement_missing_or_wrong_then_refused(
    ack: str | None, said: str
) -> None:
    env = dict(KEYS) if ack is None else {**KEYS, "SWARM_LIVE_ACK": ack}
    refusal = _gate(env=env)
    assert refusal.condition == "acknowledgement"  # type: ignore[attr-defined]
    assert said in refusal.message and "acct-1" in refusal.message  # type: ignore[attr-defined]


def test_live_when_doctor_fails_then_refused_with_the_failed_checks() -> None:
    def failing() -> Sequence[Check]:
        return [Check("keys", "pass", ""), Check("WAL dir writable", "fail", "/x: read-only")]

    refusal = _gate(doctor=failing)
    assert refusal.condition == "doctor" and "WAL dir writable: /x: read-only" in refusal.message  # type: ignore[attr-defined]


def test_live_when_doctor_would_fail_but_ack_missing_then_doctor_not_run() -> None:
    ran: list[int] = []

    def doctor() -> Sequence[Check]:
        ran.append(1)
        return []

    _gate(env=KEYS, doctor=doctor)
    assert ran == []


def test_live_when_operator_does_not_confirm_then_refused() -> None:
    assert _gate(confirm=None).condition == "confirmation"  # type: ignore[attr-defined]
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return "acct-2"

    refusal = _gate(confirm=None, ask=ask)
    assert refusal.condition == "confirmation" and "acct-1" in prompts[0]  # type: ignore[attr-defined]
    assert _gate(confirm=None, ask=lambda _: "acct-1\n") is None


def test_main_live_when_paper_config_then_exit_two_with_the_condition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('mode = "paper"\n')
    assert main.main(["live", "--config", str(config)]) == 2
    assert "live refused (mode)" in capsys.readouterr().err


# -- ARMED, BUT THE DOCTOR FAILS: still refused, nothing started --------------------

LIVE_TOML = """mode = "live"
[live]
account = "acct-9"
[paper]
venues = ["bybit"]
[state]
dir = "{state}"
[gateway]
max_order_notional = "500"
max_position_notional = "2000"
max_orders_per_minute = 60
price_band_bps = "100"
[agents.hunter]
kind = "liquidation_hunter"
budget = "1000"
[agents.hunter.config]
venue = "bybit"
symbol = "BTC/USDT:USDT"
price_tick = "0.1"
amount_step = "0.001"
order_size = "0.001"
max_position = "0.005"
"""


class _DownProbe:
    """The venue cannot be reached (offline): the doctor's ``venues reachable`` fails."""

    def __init__(self, environ: object) -> None:
        pass

    def reachable(self, venue: str) -> str:
        raise ConnectionError(f"{venue}: network unreachable")

    def can_withdraw(self, venue: str) -> bool | None:
        return None


def test_main_live_when_armed_but_doctor_fails_then_refused_and_nothing_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli.live

    config = tmp_path / "live.toml"
    config.write_text(LIVE_TOML.format(state=tmp_path / "state"))
    monkeypatch.setenv("SWARM_BYBIT_API_KEY", "BYBITFAKEKEY0123456789")
    monkeypatch.setenv("SWARM_BYBIT_SECRET", "BYBITFAKESECRET9876543210")
    monkeypatch.setenv("SWARM_LIVE_ACK", "acct-9")
    monkeypatch.setattr(cli.live, "CcxtProbe", _DownProbe)
    started: list[object] = []
    monkeypatch.setattr(cli.live, "run_live", lambda *a: started.append(a) or 0)

    code = main.main(["live", "--config", str(config), "--confirm", "acct-9"])

    err = capsys.readouterr().err
    assert code == 2, err
    assert "live refused (doctor)" in err and "venues reachable" in err
    assert "network unreachable" in err
    assert started == []  # the live system never started
    assert "BYBITFAKESECRET" not in err and "BYBITFAKEKEY" not in err


def test_main_live_when_armed_and_doctor_passes_then_the_live_system_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli.live

    class UpProbe(_DownProbe):
        def reachable(self, venue: str) -> str:
            return "12 markets"

    config = tmp_path / "live.toml"
    config.write_text(LIVE_TOML.format(state=tmp_path / "state"))
    monkeypatch.setenv("SWARM_BYBIT_API_KEY", "BYBITFAKEKEY0123456789")
    monkeypatch.setenv("SWARM_BYBIT_SECRET", "BYBITFAKESECRET9876543210")
    monkeypatch.setenv("SWARM_LIVE_ACK", "acct-9")
    monkeypatch.setattr(cli.live, "CcxtProbe", UpProbe)
    started: list[object] = []
    monkeypatch.setattr(cli.live, "run_live", lambda *a: started.append(a) or 0)

    assert main.main(["live", "--config", str(config), "--confirm", "acct-9"]) == 0
    assert len(started) == 1
    out = capsys.readouterr().out
    assert "breaker CLOSED" in out and "the gateway reconciles at start" in out


# -- THE LIVE SYSTEM'S SETTINGS -----------------------------------------------------


def _live_config(tmp_path: Path, agent_venue: str = "bybit") -> SwarmConfig:
    from core.config import load_config

    path = tmp_path / "live.toml"
    path.write_text(
        LIVE_TOML.format(state=tmp_path / "state").replace(
            'venue = "bybit"\nsymbol', f'venue = "{agent_venue}"\nsymbol'
        )
    )
    return load_config(path, SwarmConfig)


def test_live_settings_when_armed_then_ccxt_gateway_resumes_state_dir_live_with_agent_markets(
    tmp_path: Path,
) -> None:
    from cli.live import live_gateway_settings
    from cli.paper import enabled_agents

    config = _live_config(tmp_path)
    settings = live_gateway_settings(config, enabled_agents(config, "live.toml"), "live.toml")
    assert settings.venue_kind == "ccxt"
    assert settings.state_dir == str(tmp_path / "state" / "live")  # the same dir every run
    assert settings.venues == ("bybit",)
    assert settings.symbols == {"bybit": ("BTC/USDT:USDT",)}
    assert settings.limits.max_order_notional == Decimal(500)
    assert settings.poll_interval_s == 1.0
    assert "SWARM_" not in repr(settings) and "FAKE" not in repr(settings)


def test_live_settings_when_an_agent_trades_an_unlisted_venue_then_config_error(
    tmp_path: Path,
) -> None:
    from cli.live import live_gateway_settings
    from cli.paper import enabled_agents
    from core.errors import ConfigError

    config = _live_config(tmp_path, agent_venue="okx")
    with pytest.raises(ConfigError, match="BTC/USDT:USDT on okx"):
        live_gateway_settings(config, enabled_agents(config, "live.toml"), "live.toml")


def test_doctor_when_live_and_no_running_system_then_gateway_checks_skip_with_reason(
    tmp_path: Path,
) -> None:
    from cli.doctor import run_checks

    config = _live_config(tmp_path)
    checks = {c.name: c for c in run_checks(config, str(tmp_path / "live.toml"), environ={})}
    for name in ("breaker CLOSED", "positions reconciled", "no orphaned orders"):
        assert checks[name].status == "skip"
        assert (
            checks[name].reason == "skip: the gateway reconciles at start and halts on a mismatch"
        )


# -- THE PUMP: live batches to the agents, marks to the gateway, ticks to the council --


class _Bridge:
    def __init__(self, batches: list[list[object] | None]) -> None:
        self.batches = batches

    def next_batch(self, max_events: int, window_s: float, timeout_s: float) -> object:
        return self.batches.pop(0)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[object] = []

    def push(self, events: object, max_in_flight: int) -> list[object]:
        self.calls.append(list(events))  # type: ignore[call-overload]
        return []

    def mark(self, prices: object) -> None:
        self.calls.append(prices)

    def tick(self, ts_ns: int) -> None:
        self.calls.append(ts_ns)


def test_pump_when_feed_batches_then_agents_get_them_in_time_order_gateway_marked_council_ticked() -> (
    None
):
    from cli.live import pump_live
    from core.events import TopOfBook

    def book(ts: int, bid: str) -> TopOfBook:
        return TopOfBook(
            ts, "bybit", "BTC/USDT:USDT", Decimal(bid), Decimal(1), Decimal(bid) + 1, Decimal(1)
        )

    later, earlier = book(20, "100"), book(10, "90")
    agent, gateway, council = _Recorder(), _Recorder(), _Recorder()
    result = pump_live(
        _Bridge([[later, earlier], [], None]),
        {"mm": agent},
        gateway,
        council,
        batch_size=64,
        max_in_flight=4,
        duration_s=None,
        monotonic=lambda: 0.0,
    )
    assert result == {"stopped_by": "end of data", "events": 2}
    assert agent.calls == [[earlier, later]]
    assert gateway.calls == [{("bybit", "BTC/USDT:USDT"): Decimal("100.5")}]
    assert council.calls == [20]
