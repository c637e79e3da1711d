"""Per-bot webhook secrets: made once, shown once, stored as their SHA-256
(``trading.webhook_secrets``, migration ``0014_webhook_signals``).

A sender proves itself in one of two ways (docs/api.md#webhooks):

* ``"secret"`` in the JSON body, as TradingView sends it: its SHA-256 is compared with
  the stored one in constant time;
* an ``X-Signature: sha256=<hex>`` header, for senders that can sign: HMAC-SHA256 of the
  raw body keyed with the secret's SHA-256 (hex digest as text) — the server holds only
  that digest, so that is the key it can check against. Whoever can read the table
  could sign requests, but could still not recover the secret for the body form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import psycopg

from core.errors import UserError

PREFIX = "whs_"


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def signing_key(secret: str) -> str:
    """What a signing sender keys its HMAC with (see the module doc)."""
    return digest(secret).hex()


def sign(stored: bytes, body: bytes) -> str:
    """``X-Signature`` of ``body`` for the secret whose digest is ``stored``."""
    return "sha256=" + hmac.new(stored.hex().encode(), body, hashlib.sha256).hexdigest()


def secret_matches(stored: bytes, presented: object) -> bool:
    if not isinstance(presented, str) or not presented:
        return False
    return hmac.compare_digest(stored, digest(presented))


def signature_matches(stored: bytes, body: bytes, header: str) -> bool:
    return hmac.compare_digest(sign(stored, body).encode(), header.strip().lower().encode())


def set_secret(conn: psycopg.Connection[Any], bot_id: str) -> str:
    """A new secret for ``bot_id``, replacing any older one (which stops working at
    once); returns it — the only time it exists in plain text."""
    row = conn.execute(
        "SELECT bot_type, status FROM trading.bots WHERE bot_id = %s", (bot_id,)
    ).fetchone()
    if row is None:
        raise UserError(f"no bot {bot_id!r} (see alpha bots list)")
    if row[0] != "webhook":
        raise UserError(f"bot {bot_id!r} is a {row[0]} bot: only webhook bots take signals")
    if row[1] == "retired":
        raise UserError(f"bot {bot_id!r} is retired")
    secret = generate()
    conn.execute(
        "INSERT INTO trading.webhook_secrets (bot_id, secret_hash) VALUES (%s, %s)"
        " ON CONFLICT (bot_id) DO UPDATE"
        " SET secret_hash = excluded.secret_hash, created_at = now()",
        (bot_id, digest(secret)),
    )
    return secret
