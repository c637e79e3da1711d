"""Webhook signals: each bot's webhook secret (hashed) and every alert with its outcome.

Why
---
``POST /webhook/{bot_id}`` (docs/api.md#webhooks) takes trading signals from TradingView,
which cannot send an ``Authorization`` header: the sender proves itself with a per-bot
secret inside the JSON body. ``trading.webhook_secrets`` keeps the secret's SHA-256,
never the secret: it is 256 random bits, so a fast hash is as safe as a slow one and
checking it is one lookup. Only the owner writes it (``alpha api webhook-secret``
connects directly, like ``alpha api token create``); the API reads it as the app role;
no other role may read it (the schema's default privileges would let them).

``trading.webhook_signals`` records every alert that named a known bot, accepted or not,
with its outcome, so an operator can see what a sender tried (a wrong secret, a stale
alert) and what reached the bot. The partial unique index on ``(bot_id, alert_id)``
among accepted rows is what makes a repeated alert id a duplicate, atomically, even
when two deliveries race. The secret itself is never stored in ``payload``.

The API (app role) inserts; readonly may read (reports, Grafana); listener, bots and
trade sync have no reason to and may not.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    app, listener, bot, sync, readonly = (
        role(k) for k in ("app", "listener", "bot", "sync", "readonly")
    )
    op.execute(
        f"""
        CREATE TABLE trading.webhook_secrets (
            bot_id       text PRIMARY KEY REFERENCES trading.bots (bot_id),
            secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        REVOKE ALL ON trading.webhook_secrets FROM {readonly}, {listener}, {bot}, {sync};
        GRANT SELECT ON trading.webhook_secrets TO {app};

        CREATE TABLE trading.webhook_signals (
            id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bot_id       text NOT NULL REFERENCES trading.bots (bot_id),
            received_at  timestamptz NOT NULL DEFAULT now(),
            alert_id     text,
            alert_time   timestamptz,
            action       text,
            symbol       text,
            payload      jsonb NOT NULL,
            outcome      text NOT NULL CHECK (outcome IN
                ('accepted', 'duplicate', 'stale', 'bad_secret', 'invalid', 'failed')),
            detail       text,
            remote       text
        );
        CREATE UNIQUE INDEX webhook_signals_accepted_once
            ON trading.webhook_signals (bot_id, alert_id) WHERE outcome = 'accepted';
        CREATE INDEX webhook_signals_by_bot ON trading.webhook_signals (bot_id, id);
        REVOKE ALL ON trading.webhook_signals FROM {listener}, {bot}, {sync};
        GRANT SELECT, INSERT ON trading.webhook_signals TO {app};
        GRANT SELECT ON trading.webhook_signals TO {readonly};
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE trading.webhook_signals; DROP TABLE trading.webhook_secrets;")
