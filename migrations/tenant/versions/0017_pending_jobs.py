"""pending jobs: an index of the pending device jobs of every shop, for the expiry sweep

Revision ID: 0017_pending_jobs
Revises: 0016_ledger_shift
Create Date: 2026-11-25 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017_pending_jobs'
down_revision: str | None = '0016_ledger_shift'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table('device_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_device_jobs_pending', ['created_at'], unique=False, postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    with op.batch_alter_table('device_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_device_jobs_pending', postgresql_where=PENDING, sqlite_where=PENDING)
