"""One database role per kind of service: bots and trade sync no longer share the C2's.

Why
---
Bots, trade sync and the Telegram C2 all connected as ``app``, so any bot — including a
third-party strategy plugin — could write the operator audit (``trading.bot_commands``),
forge trade sync's runs and drift events, or set another bot's status. Now:

* ``bot`` (every bot): reads the schemas; may update only ``trading.bots.last_heartbeat``.
* ``sync`` (trade sync): reads; inserts its runs and wallet snapshots, opens and clears
  drift events.
* ``app`` (the Telegram C2): reads; sets bots' status and writes the operator audit.

The roles themselves are created by ``alpha db upgrade`` with the admin login before
the migrations run (``database/bootstrap.py``), like the others.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    owner, app, bot, sync = (role(k) for k in ("owner", "app", "bot", "sync"))
    op.execute(
        f"""
        GRANT USAGE ON SCHEMA trading, analytics TO {bot}, {sync};
        GRANT SELECT ON ALL TABLES IN SCHEMA trading TO {bot}, {sync};
        GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {bot}, {sync};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading
            GRANT SELECT ON TABLES TO {bot}, {sync};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA analytics
            GRANT SELECT ON TABLES TO {bot}, {sync};

        GRANT UPDATE (last_heartbeat) ON trading.bots TO {bot};

        GRANT INSERT ON trading.sync_runs, trading.wallet_snapshots TO {sync};
        GRANT INSERT, UPDATE ON trading.drift_events TO {sync};

        REVOKE UPDATE (last_heartbeat) ON trading.bots FROM {app};
        REVOKE INSERT ON trading.sync_runs, trading.wallet_snapshots FROM {app};
        REVOKE INSERT, UPDATE ON trading.drift_events FROM {app};
        """
    )


def downgrade() -> None:
    owner, app, bot, sync = (role(k) for k in ("owner", "app", "bot", "sync"))
    op.execute(
        f"""
        GRANT UPDATE (last_heartbeat) ON trading.bots TO {app};
        GRANT INSERT ON trading.sync_runs, trading.wallet_snapshots TO {app};
        GRANT INSERT, UPDATE ON trading.drift_events TO {app};

        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA trading
            REVOKE SELECT ON TABLES FROM {bot}, {sync};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA analytics
            REVOKE SELECT ON TABLES FROM {bot}, {sync};
        REVOKE ALL ON ALL TABLES IN SCHEMA trading, analytics FROM {bot}, {sync};
        REVOKE ALL ON SCHEMA trading, analytics FROM {bot}, {sync};
        """
    )
