"""C2 test fixtures over the shared stack (``tests/conftest.py``: real PostgreSQL behind
PgBouncer, real Redis). Helpers live next to the tests: ``fake_bot_api``, ``c2_harness``."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib

from core.config import Role, Settings

# --import-mode=importlib puts no test directory on sys.path; our helpers need it.
sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class C2Env:
    database: Any  # harness.services.Database
    services: Any  # harness.services.ServiceStack

    @property
    def settings(self) -> Settings:
        return self.database.settings

    def env(self) -> dict[str, str]:
        return self.database.env()

    def connect(self, role: Role) -> psycopg.Connection[Any]:
        return self.database.connect(role, autocommit=True)

    def redis(self, db: int) -> redis_lib.Redis:
        return self.database.redis(db)  # type: ignore[no-any-return]

    @property
    def infra_db(self) -> int:
        return self.settings.redis.infra_db


@pytest.fixture
def c2_env(database: Any, services: Any, redis: redis_lib.Redis) -> C2Env:
    # Requesting ``redis`` flushes every Redis DB first.
    return C2Env(database, services)
