"""The API may change a bot's registration, as ``alpha bots update`` does; an index for
a bot's latest round trips.

Why
---
``PATCH /api/v1/bots/{bot_id}`` runs the CLI's own code (database/bot_versions.py):
the same validation, one ``trading.bot_versions`` row and one audit row in one
transaction. The CLI connects as the owner; the API connects as ``app`` (the C2's
role), which until now could change only a bot's ``status``. It gets exactly the
columns a version records, and may append versions, nothing more: it still cannot
change a bot's id, code, type, account or Redis DB, nor delete or rewrite a version.

The CLI serialises registrations with ``LOCK TABLE trading.bots``, which needs a
table-wide privilege; the API instead updates every bot row in place (no value
changes) first, which takes the lock a registration's ``LOCK`` waits for and the row
locks another update waits for (database/bots.py ``lock_rows``).

``GET /api/v1/bots/{bot_id}/round-trips`` lists a bot's latest closed trips. Through
``analytics.round_trips`` it grouped every trip the bot ever made first: 5 s per request
for a bot with 330,000 fills in a 10-million-fill ledger (bench/api_routes.py). The
partial index ``fill_pnl_trip_closes`` holds only the fills that close a trip, in ledger
order per account and bot, so the latest closes are an index range and the route reads
only the rows of those trips (api/reads.py ``ROUND_TRIPS``). One more index entry per
closing fill on the fold's write path; none for the others.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    app = role("app")
    op.execute(
        f"""
        GRANT UPDATE (bot_name, mode, symbols, config, initial_capital)
            ON trading.bots TO {app};
        GRANT INSERT ON trading.bot_versions TO {app};
        CREATE INDEX fill_pnl_trip_closes ON analytics.fill_pnl
            (account, bot_id, exec_time, seq, exec_id) WHERE trip_closed;
        """
    )


def downgrade() -> None:
    app = role("app")
    op.execute(
        f"""
        DROP INDEX analytics.fill_pnl_trip_closes;
        REVOKE INSERT ON trading.bot_versions FROM {app};
        REVOKE UPDATE (bot_name, mode, symbols, config, initial_capital)
            ON trading.bots FROM {app};
        """
    )
