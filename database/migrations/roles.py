"""Role names as the migrations see them (``config.attributes['roles']``)."""

from __future__ import annotations

from alembic import op


def role(kind: str) -> str:
    """The quoted name of a role: ``owner``, ``listener``, ``app``, ``bot``, ``sync``,
    ``readonly`` (``core.config.Role``)."""
    config = op.get_context().config
    assert config is not None, "migrations run only through database/migrate.py"
    names: dict[str, str] = config.attributes["roles"]
    return '"' + names[kind].replace('"', '""') + '"'
