"""API tokens: made once, shown once, stored as their SHA-256 (``trading.api_tokens``).

A token is 32 random bytes (256 bits) from the OS's CSPRNG. Guessing one, or inverting
its hash, is out of reach, so a plain SHA-256 — not a slow password hash — is enough,
and it lets the API find a token by one indexed equality on every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg

from core.errors import UserError

#: Makes a leaked token recognisable in a paste or a secret scanner.
PREFIX = "alpha_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TokenRole(StrEnum):
    VIEWER = "viewer"  # every read route
    ADMIN = "admin"  # reads and the write actions


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    role: TokenRole
    created_at: datetime | None = None
    revoked_at: datetime | None = None


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UserError(
            f"token name {name!r}: use 1-64 letters, digits, '_', '.' or '-'"
            " (starting with a letter or digit)"
        )
    return name


def create(conn: psycopg.Connection[Any], name: str, role: TokenRole) -> str:
    """Insert a new token named ``name``; returns the token (the only time it exists in
    plain text)."""
    check_name(name)
    token = generate()
    try:
        conn.execute(
            "INSERT INTO trading.api_tokens (name, role, token_hash) VALUES (%s, %s, %s)",
            (name, role.value, digest(token)),
        )
    except psycopg.errors.UniqueViolation:
        raise UserError(
            f"a token named {name!r} exists already (revoked ones keep their name)"
        ) from None
    return token


def list_tokens(conn: psycopg.Connection[Any]) -> list[TokenInfo]:
    rows = conn.execute(
        "SELECT id, name, role, created_at, revoked_at FROM trading.api_tokens ORDER BY name"
    ).fetchall()
    return [TokenInfo(r[0], r[1], TokenRole(r[2]), r[3], r[4]) for r in rows]


def revoke(conn: psycopg.Connection[Any], name: str) -> None:
    """Revoke the live token ``name``; an unknown or already revoked name is an error."""
    row = conn.execute(
        "UPDATE trading.api_tokens SET revoked_at = now()"
        " WHERE name = %s AND revoked_at IS NULL RETURNING id",
        (name,),
    ).fetchone()
    if row is None:
        raise UserError(f"no live token named {name!r} (see alpha api token list)")


async def lookup(conn: psycopg.AsyncConnection[Any], token: str) -> TokenInfo | None:
    """The live token ``token`` is, or ``None`` (unknown or revoked: the same answer)."""
    cur = await conn.execute(
        "SELECT id, name, role FROM trading.api_tokens"
        " WHERE token_hash = %s AND revoked_at IS NULL",
        (digest(token),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return TokenInfo(int(values[0]), str(values[1]), TokenRole(values[2]))
