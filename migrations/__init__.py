"""Alembic migrations: `shared/` for the pos_shared schema, `tenant/` for every tenant."""
