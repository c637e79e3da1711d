"""Bearer tokens for the HTTP API, stored hashed; the operator audit learns channel ``api``.

Why
---
``alpha run api`` answers only requests that carry a token an operator created with
``alpha api token create``. The table keeps the SHA-256 of each token, never the token:
tokens are 256 random bits, so a fast unsalted hash is enough (nobody can guess a
preimage of a random 256-bit value, unlike a password), and lookup stays one indexed
equality. A revoked token keeps its row (``revoked_at``), so the audit's token names
stay meaningful.

Only the owner (the CLI, connecting directly) writes the table. The API authenticates
as the app role, which may read it; the schema's default privileges would also let
the readonly role (Grafana), the listener, bots and trade sync read the hashes, so
they are revoked here: none of them has a reason to know who holds API access.

``GET /api/v1/fills`` without a bot filter pages the whole ledger newest first; without
an index in that order every page sorts every fill, so a page's cost grows with the
ledger (measured at 50,000 fills, 2 shared cores: 67 ms p50 without, 25 ms with).
``fills_time_order`` makes each page an index range scan, at the cost of one more
B-tree entry per fill on the listener's insert path.

Pause and resume from the API are audited in ``trading.bot_commands`` like the C2's,
with ``channel = 'api'`` and the token's name as ``username``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    app, listener, bot, sync, readonly = (
        role(k) for k in ("app", "listener", "bot", "sync", "readonly")
    )
    op.execute(
        f"""
        CREATE TABLE trading.api_tokens (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name        text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{{0,63}}$'),
            role        text NOT NULL CHECK (role IN ('viewer', 'admin')),
            token_hash  bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
            created_at  timestamptz NOT NULL DEFAULT now(),
            revoked_at  timestamptz
        );
        REVOKE ALL ON trading.api_tokens FROM {readonly}, {listener}, {bot}, {sync};
        GRANT SELECT ON trading.api_tokens TO {app};

        ALTER TABLE trading.bot_commands DROP CONSTRAINT bot_commands_channel_check;
        ALTER TABLE trading.bot_commands ADD CONSTRAINT bot_commands_channel_check
            CHECK (channel IN ('telegram', 'cli', 'system', 'api'));

        CREATE INDEX fills_time_order ON trading.fills (exec_time, seq, exec_id);
        """
    )


def downgrade() -> None:
    # NOT VALID: the API's audit rows stay (an audit is never rewritten); only new rows
    # are held to the old channels.
    op.execute(
        """
        ALTER TABLE trading.bot_commands DROP CONSTRAINT bot_commands_channel_check;
        ALTER TABLE trading.bot_commands ADD CONSTRAINT bot_commands_channel_check
            CHECK (channel IN ('telegram', 'cli', 'system')) NOT VALID;
        DROP TABLE trading.api_tokens;
        DROP INDEX trading.fills_time_order;
        """
    )
