"""Every version of a bot's registration: who changed what, and when.

Why
---
Changing a bot meant retiring it and registering a new id. ``alpha bots update`` now
changes a bot's name, mode, symbols, config or capital in place, with the validation of
a registration, and keeps every version: ``trading.bot_versions`` holds one row per
version (the first is the registration) with the fields it changed (``changes``: field →
``{"from", "to"}``) and the registration as it stood after it (``snapshot``).

Existing bots get their current registration as version 1. The service roles read the
table through the schema's default privileges; only the owner (the CLI) writes it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE trading.bot_versions (
            bot_id      text NOT NULL REFERENCES trading.bots (bot_id),
            version     integer NOT NULL CHECK (version >= 1),
            changed_at  timestamptz NOT NULL DEFAULT now(),
            changed_by  text NOT NULL,
            changes     jsonb NOT NULL CHECK (jsonb_typeof(changes) = 'object'),
            snapshot    jsonb NOT NULL CHECK (jsonb_typeof(snapshot) = 'object'),
            PRIMARY KEY (bot_id, version)
        );
        INSERT INTO trading.bot_versions
               (bot_id, version, changed_at, changed_by, changes, snapshot)
        SELECT bot_id, 1, created_at, 'registration', '{}'::jsonb,
               jsonb_build_object('bot_name', bot_name, 'mode', mode, 'symbols', to_jsonb(symbols),
                                  'config', config, 'initial_capital', initial_capital::text)
          FROM trading.bots;
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE trading.bot_versions")
