"""live: each condition refused in order with its own message; never a network call."""

from __future__ import annotations

from collections.abc import Sequence
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
