"""What both Alembic environments share.

Migrations run through `pos-hub migrate`, which hands over an open connection in
`config.attributes`: "connection", "scope" ("shared" or "tenant") and, for a tenant on
PostgreSQL, "schema". Tenant migrations create schema-less tables; the connection maps
them to the tenant's schema (PostgreSQL) or file (SQLite).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from hub.adapters.db.schema import SHARED_SCHEMA, shared_metadata, tenant_metadata
from hub.adapters.db.types import ExactDecimal, UtcDateTime


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our column types as plain SQLAlchemy types, so migrations do not import app
    code that may change later."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, ExactDecimal):
        return (
            f"sa.Numeric(precision={obj.precision}, scale={obj.scale})"
            '.with_variant(sa.BigInteger(), "sqlite")'
        )
    return False


def _include_shared(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "schema" or name == SHARED_SCHEMA


def configure(connection: Connection, scope: str, schema: str | None) -> None:
    if scope == "shared":
        context.configure(
            connection=connection,
            target_metadata=shared_metadata,
            version_table_schema=SHARED_SCHEMA,
            include_schemas=True,
            include_name=_include_shared,
            compare_type=True,
            render_item=_render_item,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        return
    if connection.dialect.name == "postgresql":
        if not schema:
            raise RuntimeError("a tenant migration on PostgreSQL needs its schema")
        # Raw SQL in a migration resolves unqualified names to the tenant too.
        connection.exec_driver_sql(f'SET LOCAL search_path TO "{schema}", public')
    # The version table, like every tenant table, is schema-less: the connection puts it
    # in the tenant's schema (or file), and autogenerate recognises it as its own.
    context.configure(
        connection=connection,
        target_metadata=tenant_metadata,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run() -> None:
    attributes = context.config.attributes
    connection = attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `pos-hub migrate`")
    configure(connection, attributes["scope"], attributes.get("schema"))
    with context.begin_transaction():
        context.run_migrations()
