"""The installed `pos-hub` console script, run as a real process on a scratch data dir."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

POS_HUB = Path(sys.executable).parent / "pos-hub"
DEMO_ROLES = ["owner", "manager", "cashier", "stockkeeper"]

pytestmark = pytest.mark.slow


def hub_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The caller's environment without any POS_* setting, plus a scratch embedded store
    and cheap password hashing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_")}
    env.update(
        POS_DATA_DIR=str(data_dir),
        POS_ENV="development",
        PYTHONUTF8="1",
        POS_ARGON2_TIME_COST="1",
        POS_ARGON2_MEMORY_KIB="64",
        POS_ARGON2_PARALLELISM="1",
    )
    env.update(overrides)
    return env


def pos_hub(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POS_HUB), *args],
        env=hub_env(tmp_path / "data", **env),
        cwd=tmp_path,
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def demo_logins(stdout: str) -> list[tuple[str, str, str]]:
    """(role, username, password) of each login line `pos-hub demo` prints."""
    return re.findall(r"^\s+(\S+)\s+(\S+)\s+password: (\S+)$", stdout, flags=re.MULTILINE)


def test_console_script_is_installed() -> None:
    assert POS_HUB.is_file(), f"{POS_HUB} missing: pip install -e . in this venv"


def test_migrate_then_demo_twice(tmp_path: Path) -> None:
    migrated = pos_hub(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert re.search(r"^shared: None -> \S+$", migrated.stdout, flags=re.MULTILINE), migrated.stdout
    assert (tmp_path / "data" / "pos.db").is_file()

    first = pos_hub(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    assert "(created)" in first.stdout, first.stdout
    logins = demo_logins(first.stdout)
    assert [role for role, _, _ in logins] == DEMO_ROLES, first.stdout
    assert {username for _, username, _ in logins} == {f"demo.{r}" for r in DEMO_ROLES}

    second = pos_hub(tmp_path, "demo")
    assert second.returncode == 0, second.stderr
    assert "already there" in second.stdout, second.stdout
    assert demo_logins(second.stdout) == logins
    # Still one business: the demo tenant's store is the only one.
    assert len(list((tmp_path / "data" / "tenants").glob("*.db"))) == 1

    # migrate now also walks the demo tenant, which is already at head.
    again = pos_hub(tmp_path, "migrate")
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0] == "shared: up to date", again.stdout
    assert len(lines) == 2, again.stdout
    assert re.fullmatch(r"tenant \S+: up to date", lines[1]), again.stdout


def test_serve_before_migrate_refuses(tmp_path: Path) -> None:
    result = pos_hub(tmp_path, "serve", "--port", "1")
    assert result.returncode != 0
    assert "run `pos-hub migrate`" in result.stderr, result.stderr
    assert "shared" in result.stderr


def test_production_without_secret_refuses_to_start(tmp_path: Path) -> None:
    result = pos_hub(tmp_path, "migrate", POS_ENV="production")
    assert result.returncode == 2
    assert "refusing to start" in result.stderr, result.stderr
    assert "POS_SECRET_KEY" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"POS_ENV": "staging"}, "POS_ENV"),
        ({"POS_PORT": "abc"}, "POS_PORT"),
        ({"POS_WS_HEARTBEAT_SECONDS": "-1"}, "POS_WS_HEARTBEAT_SECONDS"),
        ({"POS_DATABASE_URL": "mysql://x"}, "POS_DATABASE_URL"),
        ({"POS_SMTP_URL": "ftp://x"}, "POS_SMTP_URL"),
        ({"POS_REDIS_URL": "notaurl"}, "POS_REDIS_URL"),
        ({"POS_LOG_LEVEL": "loud"}, "POS_LOG_LEVEL"),
        ({"POS_WS_IDLE_TIMEOUT_SECONDS": "10"}, "POS_WS_IDLE_TIMEOUT_SECONDS"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, setting: dict[str, str], named: str
) -> None:
    """Refused before anything starts (nothing created, no server), in one line."""
    result = pos_hub(tmp_path, "serve", "--port", "1", **setting)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"refusing to start: {named}"), line
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()


def test_every_bad_setting_is_named(tmp_path: Path) -> None:
    result = pos_hub(tmp_path, "migrate", POS_PORT="abc", POS_SMTP_URL="ftp://x")
    assert result.returncode == 2
    assert [line.split(":")[1].strip() for line in result.stderr.splitlines()] == [
        "POS_PORT",
        "POS_SMTP_URL",
    ]


def test_permissions_prints_a_markdown_table(tmp_path: Path) -> None:
    result = pos_hub(tmp_path, "permissions")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| permission |")
    assert re.fullmatch(r"\|(---\|)+", lines[1]), lines[1]
    table = lines[: lines.index("")] if "" in lines else lines
    assert all(line.startswith("|") and line.endswith("|") for line in table), table
    columns = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert columns == ["permission", "meaning", *DEMO_ROLES]
    sell = [line for line in table if line.startswith("| `sales.sell` |")]
    assert len(sell) == 1, result.stdout
    cells = [cell.strip() for cell in sell[0].strip("|").split("|")]
    assert len(cells) == len(columns)
    assert dict(zip(columns[2:], cells[2:], strict=True))["cashier"] == "yes"


def test_check_stock_finds_books_that_disagree(tmp_path: Path) -> None:
    assert pos_hub(tmp_path, "migrate").returncode == 0
    assert pos_hub(tmp_path, "demo").returncode == 0
    clean = pos_hub(tmp_path, "check-stock")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.strip().endswith("checked 1 tenant(s): ok")

    # Someone edits the level behind the ledger's back (SQLite keeps thousandths as
    # integers, so +1000 is one unit): both checks against it name the product.
    (tenant_file,) = (tmp_path / "data" / "tenants").glob("*.db")
    with sqlite3.connect(tenant_file) as conn:
        product = conn.execute("SELECT product_id FROM stock_levels LIMIT 1").fetchone()[0]
        conn.execute(
            "UPDATE stock_levels SET on_hand = on_hand + 1000 WHERE product_id = ?", (product,)
        )
    broken = pos_hub(tmp_path, "check-stock")
    assert broken.returncode == 1
    assert f"product {uuid.UUID(product)}: on_hand recorded" in broken.stdout
    assert "batches recorded" in broken.stdout
    assert "2 discrepancy" in broken.stdout
