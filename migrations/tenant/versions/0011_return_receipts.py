"""return receipts

Revision ID: 0011_return_receipts
Revises: 0010_return_approver
Create Date: 2026-11-24 07:57:09.213881
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011_return_receipts'
down_revision: str | None = '0010_return_approver'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_status', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('fiscal', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.drop_column('fiscal')
        batch_op.drop_column('receipt_status')

