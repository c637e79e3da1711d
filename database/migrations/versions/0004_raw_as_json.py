"""Ledger: keep each execution's ``raw`` message as ``json``, not ``jsonb``.

Why
---
``raw`` is the exchange's item as received, kept for audit and re-processing; nothing
queries inside it on the write path. ``jsonb`` parses it into a binary tree on every
INSERT and COPY, and at the listener's full load that was the single most expensive
column: PostgreSQL CPU per fill, 1,000-fill batches, measured on this project's 2-core
machine: 115 µs with ``jsonb``, 93–95 µs with ``json`` (which only checks the syntax).
``json`` also keeps the text as written (key order, number spelling), which suits an
audit copy better. The ``->``, ``->>`` and ``#>>`` operators work on both types; cast to
``jsonb`` (``raw::jsonb``) for containment or equality.

``trading.fills`` and ``trading.funding`` change (one row per execution, written at fill
rate). ``trading.orders`` keeps ``jsonb``: it is a state table updated in place.

Upgrade rewrites both tables under an ACCESS EXCLUSIVE lock: the listener's writes wait
(its queue and spool hold the fills) until the migration commits. On a large ledger
run it in a quiet moment. Downgrade casts back (``jsonb`` normalises the text again).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("fills", "funding")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE trading.{table} ALTER COLUMN raw TYPE json USING raw::json")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE trading.{table} ALTER COLUMN raw TYPE jsonb USING raw::jsonb")
