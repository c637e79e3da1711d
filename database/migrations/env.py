"""Alembic environment: always a direct connection to PostgreSQL as the owner role.

The caller (``database.migrate``) passes an open SQLAlchemy connection and the role
names in ``config.attributes``; migrations never read the environment themselves, so
the same revision files serve production, the demo and isolated test databases.
"""

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `alpha db upgrade`, not the alembic CLI")

context.configure(connection=connection, transactional_ddl=True, version_table_schema="public")
with context.begin_transaction():
    context.run_migrations()
