from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import SwarmConfig, api_credentials, load_config
from core.errors import ConfigError, SecretMissing

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "swarm.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "name", ["paper.toml", "live.example.toml", "backtest.toml", "cluster.toml"]
)
def test_load_config_when_shipped_file_then_valid(name: str) -> None:
    config = load_config(ROOT / "configs" / name, SwarmConfig)
    assert config.ray.dashboard_host == "127.0.0.1"


def test_load_config_when_values_given_then_typed_and_frozen(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[paper]\nseed = 3\nstarting_balances = { USDT = "2500.5" }\n'), SwarmConfig
    )
    assert config.paper.seed == 3
    assert config.paper.starting_balances == {"USDT": Decimal("2500.5")}
    with pytest.raises(ValidationError):
        config.mode = "live"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "key", "value", "reason"),
    [
        ("[paper]\nseed = 'x'\n", "paper.seed", "'x'", "integer"),
        ("[paper]\nsede = 1\n", "paper.sede", "1", "unknown key"),
        (
            "[paper]\nstarting_balances = { USDT = 1.5 }\n",
            "paper.starting_balances.USDT",
            "1.5",
            "floats",
        ),
        ("mode = 'yolo'\n", "mode", "'yolo'", "paper"),
        ("[paper]\nvenues = ['kraken']\n", "paper.venues.0", "'kraken'", "binance"),
    ],
)
def test_load_config_when_bad_value_then_error_names_file_key_value(
    tmp_path: Path, text: str, key: str, value: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, SwarmConfig)
    message = str(exc.value)
    assert str(path) in message
    assert exc.value.key == key
    assert f"{key} = {value}" in message
    assert reason in message


def test_load_config_when_not_toml_or_missing_then_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "mode = \n"), SwarmConfig)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", SwarmConfig)


def test_api_credentials_when_env_set_then_read_and_masked() -> None:
    env = {"SWARM_BINANCE_API_KEY": "k" * 20, "SWARM_BINANCE_SECRET": "s" * 20}
    creds = api_credentials("binance", env)
    assert creds.api_key.get_secret_value() == "k" * 20
    assert "k" * 20 not in repr(creds) and "s" * 20 not in str(creds)
    assert creds.password is None


def test_api_credentials_when_missing_then_secret_missing_names_variable() -> None:
    with pytest.raises(SecretMissing) as exc:
        api_credentials("okx", {"SWARM_OKX_API_KEY": "k"})
    assert exc.value.variable == "SWARM_OKX_SECRET"


def test_load_config_when_extends_then_tables_merged_and_values_replaced(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text(
        '[paper]\nseed = 3\nvenues = ["bybit", "okx"]\n[replay]\nbatch_size = 10\n'
    )
    (tmp_path / "over.toml").write_text(
        'extends = "base.toml"\n[paper]\nvenues = ["binance"]\n[replay]\nspeed = 60\n'
    )
    config = load_config(tmp_path / "over.toml", SwarmConfig)
    assert config.paper.seed == 3 and config.paper.venues == ("binance",)
    assert config.replay.batch_size == 10 and config.replay.speed == 60


def test_load_config_when_extends_missing_or_cycle_then_error_names_it(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "nope.toml"\n')
    with pytest.raises(ConfigError, match=r"extends.*file not found"):
        load_config(tmp_path / "a.toml", SwarmConfig)
    (tmp_path / "b.toml").write_text('extends = "c.toml"\n')
    (tmp_path / "c.toml").write_text('extends = "b.toml"\n')
    with pytest.raises(ConfigError, match="extends itself"):
        load_config(tmp_path / "b.toml", SwarmConfig)


def test_variants_config_when_loaded_then_paper_plus_one_shadow_variant() -> None:
    root = Path(__file__).resolve().parents[3]
    paper = load_config(root / "configs" / "paper.toml", SwarmConfig)
    variants = load_config(root / "configs" / "variants.toml", SwarmConfig)
    assert variants.agents == paper.agents and variants.council.enabled
    assert [v["of"] for v in variants.council.config["variants"]] == ["mm"]
    assert "variants" not in paper.council.config
