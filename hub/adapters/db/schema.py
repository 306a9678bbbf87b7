"""Every table module, imported once, so the metadata sets are whole wherever they are
used (Alembic, creating a tenant at head, the migration tests). Each area keeps its
tables in its own module; add new modules here."""

from __future__ import annotations

from hub.adapters.db import (
    analytics_tables,
    cart_tables,
    catalogue_tables,
    customer_tables,
    job_tables,
    mail_tables,
    sales_tables,
    tables,
    task_tables,
)
from hub.adapters.db.tables import SHARED_SCHEMA, shared_metadata, tenant_metadata

TABLE_MODULES = (
    tables,
    catalogue_tables,
    customer_tables,
    sales_tables,
    cart_tables,
    job_tables,
    task_tables,
    analytics_tables,
    mail_tables,
)

__all__ = ["SHARED_SCHEMA", "TABLE_MODULES", "shared_metadata", "tenant_metadata"]
