"""ledger shift: the shift whose drawer took (or paid out) a desk operation's cash

Revision ID: 0016_ledger_shift
Revises: 0015_mail_outbox
Create Date: 2026-11-24 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016_ledger_shift'
down_revision: str | None = '0015_mail_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('customer_ledger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shift_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customer_ledger', schema=None) as batch_op:
        batch_op.drop_column('shift_id')
