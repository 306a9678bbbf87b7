"""return approver

Revision ID: 0010_return_approver
Revises: 0009_agent_links
Create Date: 2026-11-24 04:11:24.640034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010_return_approver'
down_revision: str | None = '0009_agent_links'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approved_by', sa.Uuid(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.drop_column('approved_by')

