"""Role names as the migrations see them (``config.attributes['roles']``)."""

from __future__ import annotations

from alembic import op


def role(kind: str) -> str:
    """The quoted name of the ``owner``/``listener``/``app``/``readonly`` role."""
    names: dict[str, str] = op.get_context().config.attributes["roles"]
    return '"' + names[kind].replace('"', '""') + '"'
