"""customers: groups, customers, ledger, bonus lots, operations

Revision ID: 0004_customers
Revises: 0003_catalogue
Create Date: 2026-11-24 01:07:28.549950
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004_customers'
down_revision: str | None = '0003_catalogue'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer_groups',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('discount_percent', sa.Numeric(precision=5, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('bonus_rate', sa.Numeric(precision=5, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_groups')),
    sa.UniqueConstraint('name_key', name=op.f('uq_customer_groups_name_key'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('legal_name', sa.String(length=300), nullable=False),
    sa.Column('tax_id', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('phone_digits', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('notes', sa.String(length=2000), nullable=False),
    sa.Column('search_name', sa.String(length=600), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=True),
    sa.Column('credit_limit', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('balance', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('debt', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('bonus', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('ledger_seq', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['customer_groups.id'], name=op.f('fk_customers_group_id_customer_groups')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('phone', name=op.f('uq_customers_phone'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_group_id'), ['group_id'], unique=False)
        batch_op.create_index('ix_customers_phone_digits_trgm', ['phone_digits'], unique=False, postgresql_using='gin', postgresql_ops={'phone_digits': 'gin_trgm_ops'})
        batch_op.create_index(batch_op.f('ix_customers_search_name'), ['search_name'], unique=False)
        batch_op.create_index('ix_customers_search_name_trgm', ['search_name'], unique=False, postgresql_using='gin', postgresql_ops={'search_name': 'gin_trgm_ops'})

    op.create_table('customer_bonus_lots',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('remaining', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_bonus_lots_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_bonus_lots'))
    )
    with op.batch_alter_table('customer_bonus_lots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_bonus_lots_customer_id'), ['customer_id'], unique=False)

    op.create_table('customer_ledger',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=10), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('balance_after', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('debt_after', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('bonus_after', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('sale_id', sa.Uuid(), nullable=True),
    sa.Column('return_id', sa.Uuid(), nullable=True),
    sa.Column('operation', sa.String(length=120), nullable=True),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_ledger_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_ledger')),
    sa.UniqueConstraint('customer_id', 'seq', name=op.f('uq_customer_ledger_customer_id_seq')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_customer_ledger_idempotency_key'))
    )
    with op.batch_alter_table('customer_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_ledger_customer_id_created_at'), ['customer_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_ledger_operation'), ['operation'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_ledger_sale_id'), ['sale_id'], unique=False)

    op.create_table('customer_operations',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_operations_customer_id_customers')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_customer_operations'))
    )
    with op.batch_alter_table('customer_operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_operations_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customer_operations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_operations_customer_id'))

    op.drop_table('customer_operations')
    with op.batch_alter_table('customer_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_ledger_sale_id'))
        batch_op.drop_index(batch_op.f('ix_customer_ledger_operation'))
        batch_op.drop_index(batch_op.f('ix_customer_ledger_customer_id_created_at'))

    op.drop_table('customer_ledger')
    with op.batch_alter_table('customer_bonus_lots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_bonus_lots_customer_id'))

    op.drop_table('customer_bonus_lots')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_search_name_trgm', postgresql_using='gin', postgresql_ops={'search_name': 'gin_trgm_ops'})
        batch_op.drop_index(batch_op.f('ix_customers_search_name'))
        batch_op.drop_index('ix_customers_phone_digits_trgm', postgresql_using='gin', postgresql_ops={'phone_digits': 'gin_trgm_ops'})
        batch_op.drop_index(batch_op.f('ix_customers_group_id'))

    op.drop_table('customers')
    op.drop_table('customer_groups')
