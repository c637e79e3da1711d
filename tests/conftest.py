"""Shared fixtures: real PostgreSQL, a private PgBouncer and a private Redis.

- ``services`` (session): the :class:`~harness.services.ServiceStack` — roles under a
  per-session prefix with random passwords, a migrated template database, PgBouncer
  (transaction mode, SCRAM) and Redis on free ports. Torn down at session end.
- ``database`` (function): a fresh database cloned from the template, dropped after
  the test. ``.name``, ``.settings`` (a ``core.config.Settings`` for it),
  ``.env()`` (for ``alpha`` subprocesses), ``.connect(role, direct=False)``,
  ``.alpha(*args)`` (run the CLI against it).
- ``redis`` (function): a client for the private Redis (DB 0), every DB flushed first.
- ``redis_mode`` (function): ``"standalone"``; a test parametrised with
  ``@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])`` runs twice, the
  second time with ``database`` on a one-node Redis Cluster (``REDIS_CLUSTER=true``,
  started once per session, flushed first): ``database.redis(db)``,
  ``database.settings`` and ``database.env()`` follow it.

Nothing starts unless a test asks for one of these fixtures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

sys.path.insert(0, str(Path(__file__).parent))

from harness.services import Database, ServiceStack


@pytest.fixture(scope="session")
def services() -> Iterator[ServiceStack]:
    stack = ServiceStack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def redis_mode() -> str:
    """``"standalone"`` unless a test parametrises it with ``"cluster"`` too."""
    return "standalone"


@pytest.fixture
def database(services: ServiceStack, redis_mode: str) -> Iterator[Database]:
    cluster = redis_mode == "cluster"
    if cluster:
        services.cluster().flushall()
    name = services.create_database()
    try:
        yield Database(name, services, cluster=cluster)
    finally:
        services.drop_database(name)


@pytest.fixture
def redis(services: ServiceStack) -> Iterator[redis_lib.Redis]:
    client = services.redis(0)
    client.flushall()
    try:
        yield client
    finally:
        client.close()
