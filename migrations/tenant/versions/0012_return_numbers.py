"""return numbers: a return receipt's own number, sequential per cash register

Revision ID: 0012_return_numbers
Revises: 0011_return_receipts
Create Date: 2026-11-24 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012_return_numbers'
down_revision: str | None = '0011_return_receipts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Returns made before numbers: numbered per register (the paying shift's) in the order
# they were made, and each register's next number after them.
_NUMBER_EARLIER = """
UPDATE sale_returns SET number = (
    SELECT COUNT(*) FROM sale_returns AS earlier
    JOIN shifts AS paid_by ON paid_by.id = earlier.shift_id
    WHERE paid_by.register_id = (SELECT register_id FROM shifts WHERE id = sale_returns.shift_id)
      AND (earlier.created_at < sale_returns.created_at
           OR (earlier.created_at = sale_returns.created_at AND earlier.id <= sale_returns.id))
)
"""
_NEXT_NUMBERS = """
UPDATE cash_registers SET next_return_number = 1 + (
    SELECT COUNT(*) FROM sale_returns JOIN shifts ON shifts.id = sale_returns.shift_id
    WHERE shifts.register_id = cash_registers.id
)
"""


def upgrade() -> None:
    with op.batch_alter_table('cash_registers', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('next_return_number', sa.Integer(), nullable=False, server_default='1')
        )
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number', sa.Integer(), nullable=True))
    op.execute(_NUMBER_EARLIER)
    op.execute(_NEXT_NUMBERS)
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.alter_column('number', existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.drop_column('number')
    with op.batch_alter_table('cash_registers', schema=None) as batch_op:
        batch_op.drop_column('next_return_number')
