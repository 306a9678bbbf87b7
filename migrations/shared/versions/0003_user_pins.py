"""user pins

Revision ID: 0003_user_pins
Revises: 0002_pg_trgm
Create Date: 2026-11-24 04:03:42.438126
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003_user_pins'
down_revision: str | None = '0002_pg_trgm'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema='pos_shared') as batch_op:
        batch_op.add_column(sa.Column('pin_hash', sa.String(length=255), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema='pos_shared') as batch_op:
        batch_op.drop_column('pin_hash')

