"""Structured logs: one JSON object per line on stderr, every secret redacted by key name.

``setup_logging(level, fmt)`` installs ``RedactingJsonFormatter`` (or a plain
text formatter that redacts the same way) on the root logger. Redaction:

- any field (a ``logging`` ``extra``, or a key of a dict argument, at any
  depth) whose name looks like a secret (``api_key``, ``apiKey``, ``secret``,
  ``password``, ``passphrase``, ``token``, ``signature``, ``private_key``,
  ``authorization``, ``cookie``) has its value replaced by ``***``;
- ``name=value`` and ``"name": "value"`` pairs with such a name in the text;
- the values of the environment's secrets (``SWARM_<VENUE>_API_KEY``,
  ``_SECRET``, ``_PASSWORD``, ``RAY_AUTH_TOKEN``) wherever they appear.

ccxt's own request logging stays off (``CcxtExchange`` builds its clients
with ``verbose = False``); ``quiet_ccxt`` forces the ``ccxt`` loggers to WARNING.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

MASK = "***"
SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|password|passphrase|passwd|token|signature|private[_-]?key|"
    r"authorization|cookie|credential)",
    re.IGNORECASE,
)
_PAIR = re.compile(
    r"""(?P<key>["']?[A-Za-z0-9_\-]*(?:api[_-]?key|secret|password|passphrase|passwd|token|"""
    r"""signature|private[_-]?key|authorization|cookie|credential)[A-Za-z0-9_\-]*["']?)"""
    r"""(?P<sep>\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^\s,;&}\]]+)""",
    re.IGNORECASE,
)
_SECRET_ENV = re.compile(r"^(SWARM_[A-Z0-9]+_(API_KEY|SECRET|PASSWORD)|RAY_AUTH_TOKEN)$")
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def secret_values(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The environment's secret values (longest first), at least 4 characters each."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_ENV.match(k) and len(v) >= 4}
    return tuple(sorted(values, key=len, reverse=True))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask secret-named pairs and known secret values in ``text``."""
    for value in secrets:
        text = text.replace(value, MASK)
    return _PAIR.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)


def redact(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """Return ``value`` with secret-named fields masked, at any depth (JSON-safe result)."""
    if isinstance(value, Mapping):
        return {
            str(k): MASK if SECRET_KEY.search(str(k)) else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        return redact_text(value, secrets)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value), secrets)


class RedactingJsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras; secrets masked."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._secrets = secret_values(environ)

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if isinstance(args, Mapping):
            record.args = redact(args, self._secrets)
        elif isinstance(args, tuple):
            record.args = tuple(
                redact(a, self._secrets) if isinstance(a, Mapping | list | tuple) else a
                for a in args
            )
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage(), self._secrets),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = MASK if SECRET_KEY.search(key) else redact(value, self._secrets)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info), self._secrets)
        return json.dumps(entry, default=str, sort_keys=True)


class RedactingTextFormatter(logging.Formatter):
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secrets = secret_values(environ)

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record), self._secrets)


def quiet_ccxt() -> None:
    for name in ("ccxt", "ccxt.base.exchange"):
        logging.getLogger(name).setLevel(logging.WARNING)


def setup_logging(level: str = "WARNING", fmt: str = "json") -> logging.Handler:
    """Install one redacting handler on stderr on the root logger; return it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingJsonFormatter() if fmt == "json" else RedactingTextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_swarm", False)]:
        root.removeHandler(old)
    handler._swarm = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    quiet_ccxt()
    return handler
