"""A request that meets PostgreSQL or Redis away is a 503 the client may retry, with no
internal address in it and no traceback in the log."""

from __future__ import annotations

import logging

import pytest
from api_harness import RunningApi, add_bot, make_token
from harness.services import settings_without

from api.context import ApiContext
from api.routes import PREFIX


@pytest.mark.parametrize("away", ["database", "redis"])
def test_a_request_while_a_service_is_away_is_503_with_retry_after(
    database, redis, caplog, away
) -> None:
    """Before, with the database away: 400 (a client's mistake, so not retried) quoting
    libpq's message, with the database's host, port, role and name in it; with Redis
    away: 500 and a traceback per request."""
    token = make_token(database, "ops", "viewer")
    add_bot(database, "alpha_one", "aa1")  # its state is read from Redis
    api = RunningApi(ApiContext(settings_without(database.settings, away))).start()
    try:
        with caplog.at_level(logging.INFO):
            reply = api.get(f"{PREFIX}/bots", token)
            again = api.get(f"{PREFIX}/bots", token)
    finally:
        api.stop()
    named = "the database" if away == "database" else "Redis"
    assert (reply.status_code, reply.headers.get("Retry-After")) == (503, "5"), reply.text
    assert reply.json() == {
        "error": {"status": 503, "message": f"{named} is unreachable; try again shortly"}
    }
    assert again.status_code == 503
    said = [r for r in caplog.records if r.name.startswith("api") and r.levelno >= logging.WARNING]
    assert [(r.levelname, r.exc_info) for r in said] == [("WARNING", None)], [
        r.getMessage() for r in said
    ]  # one warning for the outage, not one per request
    assert f"{named} unreachable" in said[0].getMessage()
