"""A request that meets PostgreSQL or Redis away is a 503 the client may retry, with no
internal address in it and no traceback in the log."""

from __future__ import annotations

import logging

import pytest
from api_harness import RunningApi, add_bot, make_token
from harness.services import settings_without

from api.context import ApiContext
from api.routes import PREFIX
from core.operator.audit import Auditor
from core.operator.db import Database as OperatorDatabase


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


def test_a_confirmation_that_meets_the_database_away_is_503_without_a_traceback(
    database, redis, caplog
) -> None:
    """The database goes away between the token check and the effect. Before: the
    effect's failure logged its whole traceback at ERROR before the middleware answered
    (the audit of that failure raised in turn)."""
    add_bot(database, "alpha_one", "aa1", redis_db=3)
    admin = make_token(database, "ops", "admin")
    api = RunningApi(ApiContext(database.settings)).start()
    try:
        asked = api.post(f"{PREFIX}/bots/aa1/flatten", admin)
        assert asked.status_code == 202, asked.text
        # The token check keeps its own handle on the database; the action's go away.
        away = OperatorDatabase(settings_without(database.settings, "database"))
        api.ctx.writer, api.ctx.auditor = away, Auditor(away)
        with caplog.at_level(logging.INFO):
            done = api.post(asked.json()["confirm"], admin)
    finally:
        api.stop()
    assert (done.status_code, done.headers.get("Retry-After")) == (503, "5"), done.text
    # Its "failed" row could not be written either: the middleware's answer.
    assert done.json()["error"]["message"] == "the database is unreachable; try again shortly"
    said = [r for r in caplog.records if r.name.startswith("api") and r.levelno >= logging.WARNING]
    assert all(r.exc_info is None for r in said), [r.getMessage() for r in said]
    assert said, "the outage was not logged"
    assert database.redis(3).xlen("commands:alpha_one") == 0
