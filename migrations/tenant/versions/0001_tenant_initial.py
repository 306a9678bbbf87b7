"""tenant schema: shops, user shops, settings

Revision ID: 0001_tenant
Revises: (none)
Create Date: 2026-11-23 22:28:25.153024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001_tenant'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shops',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shops'))
    )
    op.create_table('tenant_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_tenant_settings'))
    )
    op.create_table('user_shops',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_user_shops_shop_id_shops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'shop_id', name=op.f('pk_user_shops'))
    )
    with op.batch_alter_table('user_shops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_shops_shop_id'), ['shop_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('user_shops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_shops_shop_id'))

    op.drop_table('user_shops')
    op.drop_table('tenant_settings')
    op.drop_table('shops')
