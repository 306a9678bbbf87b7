"""returns

Revision ID: 0007_returns
Revises: 0006_sales
Create Date: 2026-11-24 02:39:46.766118
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007_returns'
down_revision: str | None = '0006_sales'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sale_returns',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('shift_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('refund_total', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['sale_id'], ['sales.id'], name=op.f('fk_sale_returns_sale_id_sales'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_sale_returns_shift_id_shifts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_sale_returns_shop_id_shops'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale_returns')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_sale_returns_idempotency_key'))
    )
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sale_returns_sale_id'), ['sale_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sale_returns_shift_id'), ['shift_id'], unique=False)

    op.create_table('return_lines',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('return_id', sa.Uuid(), nullable=False),
    sa.Column('sale_line_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('refund', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.ForeignKeyConstraint(['return_id'], ['sale_returns.id'], name=op.f('fk_return_lines_return_id_sale_returns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sale_line_id'], ['sale_lines.id'], name=op.f('fk_return_lines_sale_line_id_sale_lines'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_return_lines'))
    )
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_return_lines_return_id'), ['return_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_return_lines_sale_line_id'), ['sale_line_id'], unique=False)

    op.create_table('return_payments',
    sa.Column('return_id', sa.Uuid(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.ForeignKeyConstraint(['return_id'], ['sale_returns.id'], name=op.f('fk_return_payments_return_id_sale_returns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('return_id', 'method', name=op.f('pk_return_payments'))
    )


def downgrade() -> None:
    op.drop_table('return_payments')
    with op.batch_alter_table('return_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_return_lines_sale_line_id'))
        batch_op.drop_index(batch_op.f('ix_return_lines_return_id'))

    op.drop_table('return_lines')
    with op.batch_alter_table('sale_returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sale_returns_shift_id'))
        batch_op.drop_index(batch_op.f('ix_sale_returns_sale_id'))

    op.drop_table('sale_returns')
