"""The backup service's own role: it no longer needs the owner's or the admin's password.

Why
---
The long-running backup service held the owner's password (to run pg_dump and record
its runs) and the admin login's (to create and drop the scratch database each dump is
restored into for verification): a compromise of that one container gave the keys to
disable the ledger's guard. Its role, ``backup``, may create databases (granted by
``alpha db upgrade`` with the admin login, ``database/bootstrap.py``); this migration
lets it read every table and sequence of the project's schemas (what pg_dump needs; not
``pg_read_all_data``, which would also read every role's password verifier in
``pg_authid``) and record its runs in ``trading.backups``. Restoring a backup over a
database stays an operator's one-shot act with the admin login.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    owner, backup = role("owner"), role("backup")
    op.execute(
        f"""
        GRANT USAGE ON SCHEMA trading, analytics TO {backup};
        GRANT SELECT ON ALL TABLES IN SCHEMA trading, analytics TO {backup};
        GRANT SELECT ON ALL SEQUENCES IN SCHEMA trading, analytics TO {backup};
        GRANT SELECT ON public.alembic_version TO {backup};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading, analytics
            GRANT SELECT ON TABLES TO {backup};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading, analytics
            GRANT SELECT ON SEQUENCES TO {backup};
        GRANT INSERT, UPDATE, DELETE ON trading.backups TO {backup};
        """
    )


def downgrade() -> None:
    owner, backup = role("owner"), role("backup")
    op.execute(
        f"""
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading, analytics
            REVOKE SELECT ON TABLES FROM {backup};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading, analytics
            REVOKE SELECT ON SEQUENCES FROM {backup};
        REVOKE ALL ON ALL TABLES IN SCHEMA trading, analytics FROM {backup};
        REVOKE ALL ON ALL SEQUENCES IN SCHEMA trading, analytics FROM {backup};
        REVOKE SELECT ON public.alembic_version FROM {backup};
        REVOKE USAGE ON SCHEMA trading, analytics FROM {backup};
        """
    )
