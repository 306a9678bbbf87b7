"""job started: when the agent told the hub it is starting a job (before fiscalising)

A job its agent started is never given to another agent when that agent's token is
revoked: it is held for a person instead (the register may hold its receipt).

Revision ID: 0018_job_started
Revises: 0017_pending_jobs
Create Date: 2026-11-25 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018_job_started'
down_revision: str | None = '0017_pending_jobs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('device_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('device_jobs', schema=None) as batch_op:
        batch_op.drop_column('started_at')
