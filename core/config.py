"""Configuration: defaults from the commented example file, overridden by the user's TOML.

Lookup order: `--config PATH`, `$TESSERA_CONFIG`, `./tessera.toml`, built-in defaults.
Secrets are read from environment variables or files named in the configuration, never
from the file itself, and `redacted()` hides them when the configuration is printed.
"""
from __future__ import annotations

import os
import tomllib
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "tessera.example.toml"
PLATFORMS = ("telegram", "matrix", "discord")
_PLACEHOLDERS = ("example.org", "example.com", "changeme", "<", "xxx")
_SECRET_SUFFIXES = ("_env", "_file")


class ConfigError(ValueError):
    """A configuration value is missing, wrong or a placeholder. The message names the key."""


def _defaults() -> dict[str, Any]:
    # The example file is the single source of defaults (it ships inside the package data
    # when installed; fall back to the copy beside the source tree).
    path = EXAMPLE
    if not path.exists():
        path = Path(__file__).parent / "tessera.example.toml"
    with path.open("rb") as fh:
        return tomllib.load(fh)


def _merge(base: dict[str, Any], override: dict[str, Any], where: str = "") -> dict[str, Any]:
    out = deepcopy(base)
    for key, value in override.items():
        full = f"{where}.{key}" if where else key
        if key not in base:
            raise ConfigError(f"{full}: unknown key (see config/tessera.example.toml)")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{full}: must be a table")
            out[key] = _merge(base[key], value, full)
        else:
            expected = type(base[key])
            if expected is float and isinstance(value, int):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(
                    f"{full}: expected {expected.__name__}, got {type(value).__name__} ({value!r})"
                )
            out[key] = value
    return out


@dataclass
class Config:
    """The effective configuration: `values` holds every section, `source` where it came from."""

    values: dict[str, Any]
    source: str = "built-in defaults"
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    @property
    def data_dir(self) -> Path:
        """The data directory (created on demand)."""
        return Path(self.values["tessera"]["data_dir"]).expanduser()

    def secret(self, section: str, name: str) -> str | None:
        """Read the secret `name` of `section` from its environment variable or file."""
        sec = self.values[section]
        file_key = f"{name}_file"
        if sec.get(file_key):
            path = Path(sec[file_key]).expanduser()
            if not path.exists():
                raise ConfigError(f"{section}.{file_key}: file {path} does not exist")
            return path.read_text().strip() or None
        env_name = sec.get(f"{name}_env")
        return (self.env.get(env_name) or None) if env_name else None

    def database_url(self) -> str:
        """The database URL: the secret source first, then database_url, then SQLite."""
        url = self.secret("tessera", "database_url") or self.values["tessera"]["database_url"]
        if url:
            return url
        return f"sqlite:///{(self.data_dir / 'tessera.db').resolve()}"

    def enabled_platforms(self) -> list[str]:
        """Platforms switched on in the configuration."""
        return [p for p in PLATFORMS if self.values[p]["enabled"]]

    def console_enabled(self) -> bool:
        """The console runs when asked to, or by default when no platform is configured."""
        mode = self.values["console"]["enabled"]
        if mode == "auto":
            return not self.enabled_platforms()
        return mode == "true"

    def validate(self) -> None:
        """Refuse bad values and leftover placeholders, naming the key and why."""
        t = self.values["tessera"]
        if t["log_level"] not in ("debug", "info", "warning", "error"):
            raise ConfigError("tessera.log_level: must be debug, info, warning or error")
        if self.values["console"]["enabled"] not in ("auto", "true", "false"):
            raise ConfigError('console.enabled: must be "auto", "true" or "false"')
        url = self.database_url()
        if not (url.startswith("sqlite") or url.startswith("postgresql")):
            raise ConfigError("tessera.database_url: only sqlite:// and postgresql:// URLs work")
        for section in ("commands", "delivery", "scheduler", "media"):
            for key, value in self.values[section].items():
                if isinstance(value, (int, float)) and value <= 0:
                    raise ConfigError(f"{section}.{key}: must be greater than zero")
        from core.retention import settings as retention_settings
        retention_settings(self)  # refused at start, not first at 03:00 when the sweep runs
        tg = self.values["telegram"]
        if tg["enabled"]:
            if not self.secret("telegram", "token"):
                raise ConfigError(
                    f"telegram.token_env: set the environment variable {tg['token_env']} "
                    "(or telegram.token_file) to the bot token"
                )
            if tg["mode"] not in ("polling", "webhook"):
                raise ConfigError('telegram.mode: must be "polling" or "webhook"')
            if tg["mode"] == "webhook" and not tg["webhook_url"].startswith("https://"):
                raise ConfigError("telegram.webhook_url: webhook mode needs an https:// URL")
        mx = self.values["matrix"]
        if mx["enabled"]:
            for key in ("homeserver", "user_id"):
                if any(p in mx[key] for p in _PLACEHOLDERS):
                    raise ConfigError(f"matrix.{key}: still the example value {mx[key]!r}")
            if not (self.secret("matrix", "token") or self.secret("matrix", "password")):
                raise ConfigError(
                    f"matrix.token_env: set {mx['token_env']} (or {mx['password_env']}) "
                    "to log in"
                )
        dc = self.values["discord"]
        if dc["enabled"] and not self.secret("discord", "token"):
            raise ConfigError(
                f"discord.token_env: set the environment variable {dc['token_env']} "
                "(or discord.token_file) to the bot token"
            )

    def redacted(self) -> dict[str, Any]:
        """The effective configuration with every secret hidden, for printing."""
        out = deepcopy(self.values)
        for section, values in out.items():
            for key in list(values):
                if key.endswith(_SECRET_SUFFIXES) and values[key]:
                    name = key[: -len("_env")] if key.endswith("_env") else key[: -len("_file")]
                    try:
                        present = bool(self.secret(section, name))
                    except ConfigError:
                        present = False
                    values[f"{name} (secret)"] = "set" if present else "not set"
        url = self.database_url()
        out["tessera"]["database_url (effective)"] = _hide_password(url)
        return out


def _hide_password(url: str) -> str:
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None,
                overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate the configuration (see the module docstring for the lookup order)."""
    env = dict(os.environ if env is None else env)
    values = _defaults()
    source = "built-in defaults"
    candidate = path or env.get("TESSERA_CONFIG")
    if candidate is None and Path("tessera.toml").exists():
        candidate = "tessera.toml"
    if candidate is not None:
        p = Path(candidate).expanduser()
        if not p.exists():
            raise ConfigError(f"config file {p} does not exist")
        try:
            with p.open("rb") as fh:
                user = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML ({exc})") from exc
        values = _merge(values, user)
        source = str(p)
    if overrides:
        values = _merge(values, overrides)
    cfg = Config(values=values, source=source, env=env)
    cfg.validate()
    return cfg
