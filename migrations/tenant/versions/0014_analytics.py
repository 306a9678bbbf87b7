"""analytics: closed daily reports, stock snapshots, customer RFM

Revision ID: 0014_analytics
Revises: 0013_tasks
Create Date: 2026-11-24 16:31:08.243237
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014_analytics'
down_revision: str | None = '0013_tasks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer_rfm',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('days_since_last', sa.Integer(), nullable=False),
    sa.Column('orders', sa.Integer(), nullable=False),
    sa.Column('spent', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('r', sa.Integer(), nullable=False),
    sa.Column('f', sa.Integer(), nullable=False),
    sa.Column('m', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=32), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_rfm'))
    )
    with op.batch_alter_table('customer_rfm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_rfm_segment'), ['segment'], unique=False)

    op.create_table('daily_reports',
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('report', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_daily_reports_shop_id_shops')),
    sa.PrimaryKeyConstraint('shop_id', 'day', name=op.f('pk_daily_reports'))
    )
    op.create_table('stock_snapshot_days',
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('products', sa.Integer(), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_snapshot_days_shop_id_shops')),
    sa.PrimaryKeyConstraint('shop_id', 'day', name=op.f('pk_stock_snapshot_days'))
    )
    op.create_table('stock_snapshots',
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('on_hand', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('reserved', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('value', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_snapshots_shop_id_shops')),
    sa.PrimaryKeyConstraint('shop_id', 'day', 'product_id', name=op.f('pk_stock_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('stock_snapshots')
    op.drop_table('stock_snapshot_days')
    op.drop_table('daily_reports')
    with op.batch_alter_table('customer_rfm', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_rfm_segment'))

    op.drop_table('customer_rfm')
