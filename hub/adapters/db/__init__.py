"""SQLAlchemy tables, engines bound to one tenant, the unit of work, migrations."""
