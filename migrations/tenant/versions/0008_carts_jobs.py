"""carts and device jobs

Revision ID: 0008_carts_jobs
Revises: 0007_returns
Create Date: 2026-11-24 04:03:41.110685
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008_carts_jobs'
down_revision: str | None = '0007_returns'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_jobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('ref_id', sa.Uuid(), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_device_jobs_shop_id_shops'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_jobs')),
    sa.UniqueConstraint('kind', 'ref_id', name=op.f('uq_device_jobs_kind_ref_id'))
    )
    with op.batch_alter_table('device_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_jobs_shop_id_status_created_at'), ['shop_id', 'status', 'created_at'], unique=False)

    op.create_table('carts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('register_id', sa.Uuid(), nullable=False),
    sa.Column('shift_id', sa.Uuid(), nullable=False),
    sa.Column('cashier_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('discount_percent', sa.Numeric(precision=5, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
    sa.Column('discount_amount', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
    sa.Column('bonus', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('lines', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_carts_customer_id_customers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['register_id'], ['cash_registers.id'], name=op.f('fk_carts_register_id_cash_registers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shift_id'], ['shifts.id'], name=op.f('fk_carts_shift_id_shifts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_carts_shop_id_shops'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_carts'))
    )
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_carts_shop_id_status'), ['shop_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_carts_status_updated_at'), ['status', 'updated_at'], unique=False)
        batch_op.create_index('uq_carts_open_shift', ['shift_id'], unique=True, postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))



def downgrade() -> None:
    with op.batch_alter_table('carts', schema=None) as batch_op:
        batch_op.drop_index('uq_carts_open_shift', postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_carts_status_updated_at'))
        batch_op.drop_index(batch_op.f('ix_carts_shop_id_status'))

    op.drop_table('carts')
    with op.batch_alter_table('device_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_jobs_shop_id_status_created_at'))

    op.drop_table('device_jobs')
