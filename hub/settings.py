"""Settings, read once from the environment (prefix `POS_`)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEV_SECRET = "dev-insecure-secret-change-me-0123456789"
MIN_SECRET_LENGTH = 32
MAIN_CLUSTER = "main"
_CLUSTER_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
ENV_PREFIX = "POS_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureSettings(RuntimeError):
    """The hub must not start with these settings."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    secret_key: str = DEV_SECRET
    data_dir: Path = Path("var")
    # Empty means the embedded store: SQLite files under data_dir.
    database_url: str = ""
    # Empty means the in-process broker and rate limiter.
    redis_url: str = ""
    # Further PostgreSQL clusters that hold tenants, as `name=url` pairs separated by
    # commas (SPEC §7). The shared schema stays on database_url's cluster, named "main";
    # every other cluster reaches it through postgres_fdw (see docs/operations.md).
    database_clusters: str = ""
    # The clusters that take new tenants (names, commas); empty means all of them. A new
    # tenant goes to the one of them holding the fewest tenants.
    new_tenant_clusters: str = ""
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Test each pooled connection before use (one more round trip per transaction).
    # Off, a connection broken by a database restart fails the one request that meets
    # it, and the whole pool is replaced.
    db_pre_ping: bool = False
    # On PostgreSQL, the opens, line changes and pays of many tills share transactions
    # (hub/services/cart_groups.py); off, each request has its own.
    cart_groups: bool = True
    redis_pool_size: int = Field(default=50, ge=2, le=1000)
    # A Redis that stops answering (hung, or a network that drops packets) fails a call
    # after this long, and each call is tried four times: a sale's events then wait in
    # the outbox for the sweep, and its reply goes out instead of waiting for ever.
    redis_timeout_seconds: float = Field(default=5.0, gt=0, le=300)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    backlog: int = Field(default=2048, ge=16, description="pending TCP connections")
    log_level: str = "info"
    # Bearer token for GET /metrics; empty: open (keep it behind the proxy then).
    metrics_token: str = ""
    log_json: bool = False

    access_token_ttl: int = Field(default=900, ge=10, description="seconds")
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, ge=60, description="seconds")
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Product images: where they are kept (default data_dir/media) and how big they may be.
    media_dir: Path | None = None
    max_image_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    # Catalogue imports (CSV/XLSX): a bigger body than JSON requests get.
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_import_rows: int = Field(default=100_000, ge=1)

    # realtime
    ws_impl: str = Field(default="auto", description="uvicorn's websocket implementation")
    ws_heartbeat_seconds: float = Field(default=15.0, gt=0)
    ws_idle_timeout_seconds: float = Field(default=60.0, gt=0)
    ws_max_queue_bytes: int = Field(default=1024 * 1024, ge=1024)
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_connects_per_window: int = Field(default=60, ge=1, description="per client, 10 s")
    ws_max_subscriptions: int = Field(
        default=200, ge=2, description="channels one connection may hear at once (its own too)"
    )
    realtime_history: int = Field(default=1000, ge=1, description="events kept per channel")
    outbox_sweep_seconds: float = Field(default=5.0, gt=0)
    # How often each process looks for abandoned carts (the idle time is a tenant setting).
    cart_sweep_seconds: float = Field(default=30.0, gt=0)
    # How often each process looks for task templates due to make their task.
    task_schedule_seconds: float = Field(default=30.0, gt=0)
    # E-mail (task notifications): none unless set; see hub/adapters/mail.py for the URL.
    smtp_url: str = ""
    smtp_from: str = "POS <pos@localhost>"
    mail_seconds: float = Field(default=10.0, gt=0)
    # How often each process offers to close ended days, snapshot stock and score RFM.
    analytics_seconds: float = Field(default=60.0, gt=0)

    login_max_failures: int = Field(default=5, ge=1)
    login_ip_max_failures: int = Field(default=50, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    # Wrong managers' PINs typed at a till, per user, within login_lockout_seconds.
    pin_max_failures: int = Field(default=5, ge=1)

    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile).
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)

    # URLs are checked here, so a wrong one stops the hub before anything starts rather
    # than when the first connection is made.
    @field_validator("database_url")
    @classmethod
    def _database(cls, url: str) -> str:
        if url:
            try:
                backend = make_url(url).get_backend_name()
            except ArgumentError:
                raise ValueError("not a database URL") from None
            if backend not in ("postgresql", "sqlite"):
                raise ValueError(f"unsupported database {backend!r}: PostgreSQL or SQLite")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, url: str) -> str:
        if url:
            _check_url(url, ("redis", "rediss", "unix"), "redis://host[:port][/db]")
        return url

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, url: str) -> str:
        if url:
            _check_url(url, ("smtp", "smtps"), "smtp://host[:port] or smtps://host[:port]")
        return url

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, level: str) -> str:
        if level.lower() not in LOG_LEVELS:
            raise ValueError(f"one of {', '.join(LOG_LEVELS)}")
        return level.lower()

    @model_validator(mode="after")
    def _heartbeat_within_idle_timeout(self) -> Settings:
        # A connection that only answers heartbeats must not be timed out between two.
        if self.ws_idle_timeout_seconds <= self.ws_heartbeat_seconds:
            raise ValueError(
                f"{ENV_PREFIX}WS_IDLE_TIMEOUT_SECONDS ({self.ws_idle_timeout_seconds:g}) must be"
                f" longer than {ENV_PREFIX}WS_HEARTBEAT_SECONDS ({self.ws_heartbeat_seconds:g})"
            )
        return self

    @model_validator(mode="after")
    def _fill_database_url(self) -> Settings:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite+aiosqlite:///{self.data_dir / 'pos.db'}"
            )
        if self.database_clusters and self.is_sqlite:
            raise ValueError("POS_DATABASE_CLUSTERS needs POS_DATABASE_URL on PostgreSQL")
        self.clusters_for_new_tenants  # noqa: B018 - checks both cluster settings
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def clusters(self) -> dict[str, str]:
        """Every PostgreSQL cluster by name, "main" first (one entry on SQLite)."""
        found = {MAIN_CLUSTER: self.database_url}
        for pair in filter(None, (p.strip() for p in self.database_clusters.split(","))):
            name, sep, url = (part.strip() for part in pair.partition("="))
            if not sep or not _CLUSTER_NAME.fullmatch(name) or not url:
                raise ValueError(f"POS_DATABASE_CLUSTERS: {pair!r} is not name=url")
            if name in found:
                raise ValueError(f"POS_DATABASE_CLUSTERS: cluster {name!r} named twice")
            if not url.startswith("postgresql"):
                raise ValueError(f"POS_DATABASE_CLUSTERS: cluster {name!r} is not PostgreSQL")
            found[name] = url
        return found

    @property
    def clusters_for_new_tenants(self) -> list[str]:
        names = [n.strip() for n in self.new_tenant_clusters.split(",") if n.strip()]
        known = self.clusters
        for name in names:
            if name not in known:
                raise ValueError(f"POS_NEW_TENANT_CLUSTERS: no cluster named {name!r}")
        return names or list(known)

    def check_secure(self) -> None:
        """Refuse to run outside development with a default, missing or short secret."""
        if self.env is Environment.DEVELOPMENT:
            return
        if self.secret_key == DEV_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH:
            raise InsecureSettings(
                f"POS_SECRET_KEY must be set to a random value of at least "
                f"{MIN_SECRET_LENGTH} characters when POS_ENV={self.env.value}"
            )


def _check_url(url: str, schemes: tuple[str, ...], shape: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"not a URL: {shape}") from None
    if parts.scheme not in schemes or (parts.scheme != "unix" and not parts.hostname):
        raise ValueError(f"not a URL of the right kind: {shape}")


def settings_problems(exc: ValidationError) -> list[str]:
    """One line per problem, naming the environment variable; never the value (it may
    hold a password)."""
    lines = []
    for error in exc.errors(include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            variable = ENV_PREFIX + str(error["loc"][0]).upper()
            lines.append(f"{variable}: {message}")
        else:  # a check across settings names its variables itself
            lines.append(message)
    return lines
