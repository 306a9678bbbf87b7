"""pg_trgm for substring search (product names, phone fragments) on PostgreSQL

Revision ID: 0002_pg_trgm
Revises: 0001_shared
Create Date: 2026-11-24 01:10:00

Extensions belong to the database, not to a tenant's schema, so this runs once here;
tenant migrations and tenants created at head then use `gin_trgm_ops` from `public`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_pg_trgm"
down_revision: str | None = "0001_shared"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")


def downgrade() -> None:
    # Left in place: other databases' objects may use it and it holds no data.
    pass
