"""Configuration: defaults from the example file, clear refusals, secrets kept secret."""
from __future__ import annotations

import pytest

from core.config import ConfigError, load_config


def test_defaults_need_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert cfg.source == "built-in defaults"
    assert cfg.database_url().startswith("sqlite:///")
    assert cfg.console_enabled() and cfg.enabled_platforms() == []


def test_lookup_order_and_unknown_keys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tessera.toml").write_text('[tessera]\nlog_level = "debug"\n')
    assert load_config(env={})["tessera"]["log_level"] == "debug"
    other = tmp_path / "other.toml"
    other.write_text('[tessera]\nlog_level = "error"\n')
    assert load_config(env={"TESSERA_CONFIG": str(other)})["tessera"]["log_level"] == "error"
    assert load_config(str(other), env={})["tessera"]["log_level"] == "error"
    other.write_text('[tessera]\nlog_levle = "error"\n')
    with pytest.raises(ConfigError, match="tessera.log_levle: unknown key"):
        load_config(str(other), env={})
    other.write_text('[delivery]\nmax_attempts = "many"\n')
    with pytest.raises(ConfigError, match="delivery.max_attempts: expected int"):
        load_config(str(other), env={})
    other.write_text('[delivery]\nmax_attempts = 0\n')
    with pytest.raises(ConfigError, match="delivery.max_attempts: must be greater than zero"):
        load_config(str(other), env={})
    other.write_text('[retention]\nmedia_days = -5\n')
    with pytest.raises(ConfigError, match="retention.media_days: 0 .keep. or a number of days"):
        load_config(str(other), env={})
    other.write_text('[retention]\nsweep_hour_utc = 24\n')
    with pytest.raises(ConfigError, match="retention.sweep_hour_utc"):
        load_config(str(other), env={})


def test_placeholders_and_missing_secrets_are_refused(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text("[matrix]\nenabled = true\n")
    with pytest.raises(ConfigError, match="matrix.homeserver: still the example value"):
        load_config(str(f), env={})
    f.write_text("[telegram]\nenabled = true\n")
    with pytest.raises(ConfigError, match="TESSERA_TELEGRAM_TOKEN"):
        load_config(str(f), env={})


def test_secrets_come_from_env_or_file_and_are_redacted(tmp_path):
    token = "123456789:AAFakeTokenForTestsOnly_abcdefghijk"
    f = tmp_path / "t.toml"
    f.write_text("[telegram]\nenabled = true\n")
    cfg = load_config(str(f), env={"TESSERA_TELEGRAM_TOKEN": token})
    assert cfg.secret("telegram", "token") == token
    assert token not in repr(cfg.redacted())
    assert cfg.redacted()["telegram"]["token (secret)"] == "set"
    secret_file = tmp_path / "discord.token"
    secret_file.write_text("discord-secret-value\n")
    f.write_text(f'[discord]\nenabled = true\ntoken_file = "{secret_file}"\n')
    cfg = load_config(str(f), env={})
    assert cfg.secret("discord", "token") == "discord-secret-value"
    assert "discord-secret-value" not in repr(cfg.redacted())


def test_database_password_is_hidden(tmp_path):
    cfg = load_config(env={"TESSERA_DATABASE_URL": "postgresql+psycopg://ana:s3cret@db:5432/t"},
                      overrides={"tessera": {"data_dir": str(tmp_path)}})
    assert cfg.database_url().endswith("@db:5432/t")
    assert "s3cret" not in repr(cfg.redacted())
