"""Structured logs: secrets redacted by key name and by value."""

from __future__ import annotations

import json
import logging

from cli.logs import MASK, RedactingJsonFormatter, redact, redact_text


def _format(record: logging.LogRecord, env: dict[str, str] | None = None) -> dict[str, object]:
    return json.loads(RedactingJsonFormatter(env or {}).format(record))  # type: ignore[no-any-return]


def _record(msg: str, args: object = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("swarm.test", logging.WARNING, "x.py", 1, msg, args, None)  # type: ignore[arg-type]
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_log_when_extra_fields_name_secrets_then_values_masked_and_rest_kept() -> None:
    entry = _format(
        _record(
            "order sent",
            api_key="AK123456",
            venue="binance",
            headers={"X-Signature": "abc", "n": 1},
        )
    )
    assert entry["api_key"] == MASK and entry["venue"] == "binance"
    assert entry["headers"] == {"X-Signature": MASK, "n": 1}
    assert entry["message"] == "order sent" and entry["level"] == "WARNING"


def test_log_when_message_holds_pairs_or_env_secret_values_then_masked() -> None:
    env = {"SWARM_OKX_SECRET": "topsecretvalue", "SWARM_OKX_API_KEY": "key-abcdef"}
    entry = _format(
        _record("ccxt said %s", ("apiKey=key-abcdef secret: 'x1' raw topsecretvalue",)), env
    )
    text = str(entry["message"])
    assert "key-abcdef" not in text and "topsecretvalue" not in text and "x1" not in text
    assert text.startswith("ccxt said apiKey=***")


def test_redact_when_nested_structures_then_masked_at_any_depth() -> None:
    value = {"config": {"password": "p", "symbols": ["BTC"]}, "list": [{"token": "t"}]}
    assert redact(value) == {
        "config": {"password": MASK, "symbols": ["BTC"]},
        "list": [{"token": MASK}],
    }
    assert redact_text('{"secret": "s3", "price": "1"}') == '{"secret": ***, "price": "1"}'
