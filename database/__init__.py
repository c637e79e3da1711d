"""PostgreSQL: migrations (Alembic), roles, the bot registry, backups and reports."""
