"""tenants.cluster: the PostgreSQL cluster that holds a tenant's schema

Revision ID: 0004_tenant_cluster
Revises: 0003_user_pins
Create Date: 2026-11-24 19:00:00

Every tenant made before this lives on the main cluster, the default.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_tenant_cluster"
down_revision: str | None = "0003_user_pins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema="pos_shared") as batch_op:
        batch_op.add_column(
            sa.Column("cluster", sa.String(length=31), server_default="main", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema="pos_shared") as batch_op:
        batch_op.drop_column("cluster")
