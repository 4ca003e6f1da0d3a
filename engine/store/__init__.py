"""Storage adapters: the schema (SQLAlchemy Core tables), migrations (Alembic), engine creation."""
