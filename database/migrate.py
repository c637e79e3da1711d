"""Run Alembic programmatically over one direct owner connection.

No ``alembic.ini`` on disk: the script location is this package, and the connection
and role names are handed to ``migrations/env.py`` through ``config.attributes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection, roles: Mapping[str, str]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["roles"] = dict(roles)
    return config


def upgrade(connection: Connection, roles: Mapping[str, str], revision: str = "head") -> None:
    command.upgrade(_config(connection, roles), revision)


def downgrade(connection: Connection, roles: Mapping[str, str], revision: str) -> None:
    command.downgrade(_config(connection, roles), revision)


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
