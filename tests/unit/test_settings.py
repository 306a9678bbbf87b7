"""Settings: environment variables, derived defaults, and the refusal to run insecurely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.settings import (
    DEV_SECRET,
    MIN_SECRET_LENGTH,
    Environment,
    InsecureSettings,
    Settings,
)

GOOD_SECRET = "k" * MIN_SECRET_LENGTH


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own POS_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("POS_"):
            monkeypatch.delenv(name)


# ---------------------------------------------------------------- check_secure


@pytest.mark.parametrize("env", [Environment.PRODUCTION, Environment.TEST])
def test_refuses_default_secret_outside_development(env: Environment) -> None:
    settings = Settings(env=env)
    assert settings.secret_key == DEV_SECRET
    with pytest.raises(InsecureSettings, match="POS_SECRET_KEY") as info:
        settings.check_secure()
    assert f"POS_ENV={env.value}" in str(info.value)


@pytest.mark.parametrize("env", [Environment.PRODUCTION, Environment.TEST])
@pytest.mark.parametrize("secret", ["", "short", "k" * (MIN_SECRET_LENGTH - 1)])
def test_refuses_short_secret_outside_development(env: Environment, secret: str) -> None:
    with pytest.raises(InsecureSettings):
        Settings(env=env, secret_key=secret).check_secure()


@pytest.mark.parametrize("env", [Environment.PRODUCTION, Environment.TEST])
def test_accepts_long_random_secret_outside_development(env: Environment) -> None:
    Settings(env=env, secret_key=GOOD_SECRET).check_secure()
    Settings(env=env, secret_key=os.urandom(32).hex()).check_secure()


def test_dev_secret_is_long_enough_so_only_equality_refuses_it() -> None:
    # The default secret passes the length rule; the equality check alone must catch it.
    assert len(DEV_SECRET) >= MIN_SECRET_LENGTH


@pytest.mark.parametrize("secret", [DEV_SECRET, "", "short", GOOD_SECRET])
def test_development_accepts_any_secret(secret: str) -> None:
    Settings(env=Environment.DEVELOPMENT, secret_key=secret).check_secure()


def test_development_is_the_default_environment() -> None:
    settings = Settings()
    assert settings.env is Environment.DEVELOPMENT
    settings.check_secure()


def test_env_given_as_string_becomes_the_enum() -> None:
    settings = Settings(env="production", secret_key=DEV_SECRET)
    assert settings.env is Environment.PRODUCTION
    with pytest.raises(InsecureSettings):
        settings.check_secure()


def test_unknown_environment_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(env="staging")


# ---------------------------------------------------------------- database_url


def test_default_database_url_is_sqlite_under_data_dir() -> None:
    settings = Settings()
    assert settings.data_dir == Path("var")
    assert settings.database_url == f"sqlite+aiosqlite:///{Path('var') / 'pos.db'}"
    assert settings.is_sqlite


def test_database_url_follows_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'data' / 'pos.db'}"
    assert settings.is_sqlite


def test_explicit_database_url_is_kept(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://pos:pw@db.example:5432/pos"
    settings = Settings(data_dir=tmp_path, database_url=url)
    assert settings.database_url == url
    assert not settings.is_sqlite


def test_redis_is_off_by_default() -> None:
    assert Settings().redis_url == ""


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.port = 1234  # type: ignore[misc]


# ---------------------------------------------------------------- environment variables


def test_reads_pos_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POS_ENV", "production")
    monkeypatch.setenv("POS_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("POS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("POS_PORT", "9123")
    monkeypatch.setenv("POS_LOG_JSON", "true")
    monkeypatch.setenv("POS_ACCESS_TOKEN_TTL", "60")
    monkeypatch.setenv("POS_REDIS_URL", "redis://cache:6379/0")
    settings = Settings()
    assert settings.env is Environment.PRODUCTION
    assert settings.secret_key == GOOD_SECRET
    assert settings.data_dir == tmp_path
    assert settings.port == 9123
    assert settings.log_json is True
    assert settings.access_token_ttl == 60
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'pos.db'}"
    settings.check_secure()


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+asyncpg://pos@127.0.0.1/pos"
    monkeypatch.setenv("POS_DATABASE_URL", url)
    assert Settings().database_url == url


def test_production_from_environment_without_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POS_ENV", "production")
    settings = Settings()
    with pytest.raises(InsecureSettings):
        settings.check_secure()


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    settings = Settings()
    assert settings.port == 8000
    assert settings.secret_key == DEV_SECRET


def test_explicit_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POS_PORT", "9123")
    assert Settings(port=8080).port == 8080


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POS_PORT", "0"),
        ("POS_PORT", "70000"),
        ("POS_PORT", "not-a-number"),
        ("POS_WORKERS", "0"),
        ("POS_DB_POOL_SIZE", "0"),
        ("POS_ACCESS_TOKEN_TTL", "5"),
        ("POS_REFRESH_TOKEN_TTL", "59"),
        ("POS_MAX_BODY_BYTES", "1023"),
        ("POS_ENV", "staging"),
    ],
)
def test_out_of_range_environment_values_are_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_defaults() -> None:
    settings = Settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.workers == 1
    assert settings.access_token_ttl == 900
    assert settings.refresh_token_ttl == 30 * 24 * 3600
    assert settings.login_max_failures == 5
    assert settings.max_body_bytes == 1024 * 1024


@pytest.mark.parametrize(
    "url", ["redis://cache:6379/0", "rediss://user:pw@cache/1", "unix:///run/redis.sock"]
)
def test_redis_urls_that_are_accepted(url: str) -> None:
    assert Settings(redis_url=url).redis_url == url


@pytest.mark.parametrize("url", ["smtp://relay.local", "smtps://me:pw@smtp.x.ru:465?x=1"])
def test_smtp_urls_that_are_accepted(url: str) -> None:
    assert Settings(smtp_url=url).smtp_url == url


def test_an_idle_timeout_equal_to_the_heartbeat_is_refused() -> None:
    with pytest.raises(ValidationError, match="POS_WS_IDLE_TIMEOUT_SECONDS"):
        Settings(ws_heartbeat_seconds=30, ws_idle_timeout_seconds=30)
