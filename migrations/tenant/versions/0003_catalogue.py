"""catalogue and stock

Revision ID: 0003_catalogue
Revises: 0002_outbox
Create Date: 2026-11-24 01:06:59.869931
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003_catalogue'
down_revision: str | None = '0002_outbox'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('categories',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['categories.id'], name=op.f('fk_categories_parent_id_categories'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories'))
    )
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_categories_parent_id'), ['parent_id'], unique=False)

    op.create_table('suppliers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tax_id', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('notes', sa.String(length=2000), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers'))
    )
    op.create_table('products',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_folded', sa.String(length=300), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=True),
    sa.Column('category_id', sa.Uuid(), nullable=True),
    sa.Column('supplier_id', sa.Uuid(), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('price', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('cost', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_products_category_id_categories'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_products_supplier_id_suppliers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('sku', name=op.f('uq_products_sku'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_category_id'), ['category_id'], unique=False)
        batch_op.create_index('ix_products_name_folded', ['name_folded'], unique=False)
        batch_op.create_index('ix_products_name_trgm', ['name_folded'], unique=False, postgresql_using='gin', postgresql_ops={'name_folded': 'gin_trgm_ops'})
        batch_op.create_index(batch_op.f('ix_products_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('barcodes',
    sa.Column('code', sa.String(length=48), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_barcodes_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_barcodes'))
    )
    with op.batch_alter_table('barcodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_barcodes_product_id'), ['product_id'], unique=False)

    op.create_table('batches',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('batch_number', sa.String(length=64), nullable=False),
    sa.Column('supplier_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=True),
    sa.Column('cost', sa.Numeric(precision=14, scale=2).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('remaining', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_batches_product_id_products'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_batches_shop_id_shops'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_batches_supplier_id_suppliers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batches_shop_id_product_id_remaining'), ['shop_id', 'product_id', 'remaining'], unique=False)

    op.create_table('product_images',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('thumb_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_images_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_images'))
    )
    with op.batch_alter_table('product_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_images_product_id'), ['product_id'], unique=False)

    op.create_table('stock_levels',
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('on_hand', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('reserved', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_levels_product_id_products'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_levels_shop_id_shops'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('shop_id', 'product_id', name=op.f('pk_stock_levels'))
    )
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_levels_product_id'), ['product_id'], unique=False)

    op.create_table('stock_reservations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('holder_id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_reservations_product_id_products'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_reservations_shop_id_shops'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_reservations')),
    sa.UniqueConstraint('holder_id', 'shop_id', 'product_id', name=op.f('uq_stock_reservations_holder_id_shop_id_product_id'))
    )
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_reservations_holder_id'), ['holder_id'], unique=False)

    op.create_table('stock_movements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('shop_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=14, scale=3).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('ref_id', sa.Uuid(), nullable=True),
    sa.Column('sale_id', sa.Uuid(), nullable=True),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_stock_movements_batch_id_batches'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_movements_product_id_products'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['shop_id'], ['shops.id'], name=op.f('fk_stock_movements_shop_id_shops'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_movements_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movements_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movements_ref_id'), ['ref_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movements_sale_id'), ['sale_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stock_movements_shop_id_product_id_created_at'), ['shop_id', 'product_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stock_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_movements_shop_id_product_id_created_at'))
        batch_op.drop_index(batch_op.f('ix_stock_movements_sale_id'))
        batch_op.drop_index(batch_op.f('ix_stock_movements_ref_id'))
        batch_op.drop_index(batch_op.f('ix_stock_movements_created_at'))
        batch_op.drop_index(batch_op.f('ix_stock_movements_batch_id'))

    op.drop_table('stock_movements')
    with op.batch_alter_table('stock_reservations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_reservations_holder_id'))

    op.drop_table('stock_reservations')
    with op.batch_alter_table('stock_levels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_levels_product_id'))

    op.drop_table('stock_levels')
    with op.batch_alter_table('product_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_images_product_id'))

    op.drop_table('product_images')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batches_shop_id_product_id_remaining'))

    op.drop_table('batches')
    with op.batch_alter_table('barcodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_barcodes_product_id'))

    op.drop_table('barcodes')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_supplier_id'))
        batch_op.drop_index('ix_products_name_trgm', postgresql_using='gin', postgresql_ops={'name_folded': 'gin_trgm_ops'})
        batch_op.drop_index('ix_products_name_folded')
        batch_op.drop_index(batch_op.f('ix_products_category_id'))

    op.drop_table('products')
    op.drop_table('suppliers')
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_categories_parent_id'))

    op.drop_table('categories')
