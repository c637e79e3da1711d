"""Deny by default: no token, a bad one, a revoked one, a viewer on a write, the rate
limit; and the token never shows in a reply or a log line."""

from __future__ import annotations

import logging

import pytest
from api_harness import add_bot, audit_rows, check_reply, make_token, running_api

from api.routes import PREFIX, ROUTES
from core.config import Role

BEARER_NOTHING = {"Authorization": "Bearer "}


def _path(route) -> str:
    return PREFIX + route.path.replace("{bot_id}", "alpha_one")


def _status(database, bot_id: str) -> str:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT status FROM trading.bots WHERE bot_id = %s", (bot_id,)
        ).fetchone()[0]


def test_every_route_refuses_a_request_without_a_valid_token(database, services, redis) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    with running_api(database) as api:
        for route in ROUTES:
            for headers in (
                {},
                {"Authorization": "Basic dXNlcjpwYXNz"},
                {"Authorization": "Bearer "},
            ):
                r = api.request(route.method, _path(route), headers=headers)
                assert r.status_code == 401, (route.path, headers, r.text)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                check_reply(r, "Error")
            r = api.request(route.method, _path(route), "alpha_not-a-token-anyone-made")
            assert r.status_code == 401
            assert r.json()["error"]["message"] == "unknown or revoked token"
    assert _status(database, "alpha_one") == "active"
    assert services.redis(3).get("bot:alpha_one:state") is None
    assert audit_rows(database) == []  # an anonymous caller cannot write the audit either


def test_unknown_path_or_method_is_json_404_or_405_and_not_audited(database, redis) -> None:
    token = make_token(database, "ops", "viewer")
    with running_api(database) as api:
        assert api.get(f"{PREFIX}/nothing").status_code == 401  # deny before routing
        r = api.get(f"{PREFIX}/nothing", token)
        assert r.status_code == 404
        check_reply(r, "Error")
        assert api.post(f"{PREFIX}/nothing", token).status_code == 404
        wrong = api.post(f"{PREFIX}/bots", token)  # a read route: no write was attempted
        assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
        check_reply(wrong, "Error")
    assert audit_rows(database) == []


def test_a_revoked_token_is_refused_at_its_next_request(database, redis) -> None:
    token = make_token(database, "laptop", "admin")
    with running_api(database) as api:
        assert api.get(f"{PREFIX}/bots", token).status_code == 200
        revoked = database.alpha("api", "token", "revoke", "laptop")
        assert revoked.returncode == 0, revoked.stderr
        r = api.get(f"{PREFIX}/bots", token)
        assert r.status_code == 401
        assert r.json()["error"]["message"] == "unknown or revoked token"


def test_viewer_may_read_but_a_write_is_403_audited_and_changes_nothing(
    database, services, redis
) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    token = make_token(database, "grafana", "viewer")
    with running_api(database) as api:
        assert api.get(f"{PREFIX}/bots/alpha_one", token).status_code == 200
        for action in ("pause", "resume"):
            r = api.post(f"{PREFIX}/bots/alpha_one/{action}", token)
            assert r.status_code == 403, r.text
            check_reply(r, "Error")
    assert _status(database, "alpha_one") == "active"
    assert services.redis(3).get("bot:alpha_one:state") is None
    assert [
        (a["command"], a["outcome"], a["username"], a["args"]) for a in audit_rows(database)
    ] == [
        ("pause", "refused", "grafana", ["alpha_one"]),
        ("resume", "refused", "grafana", ["alpha_one"]),
    ]


def test_rate_limit_answers_429_per_token_with_retry_after(database, redis) -> None:
    first, second = make_token(database, "a", "viewer"), make_token(database, "b", "viewer")
    with running_api(database, rate_per_minute=3) as api:
        assert [api.get(f"{PREFIX}/bots", first).status_code for _ in range(3)] == [200] * 3
        r = api.get(f"{PREFIX}/bots", first)
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        check_reply(r, "Error")
        assert api.get(f"{PREFIX}/bots", second).status_code == 200  # the other token is fine


def test_the_token_never_appears_in_a_reply_or_a_log_line(database, redis, caplog) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    admin = make_token(database, "boss", "admin")
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    with running_api(database) as api:
        for route in ROUTES:
            if route.content_type != "application/json":
                continue  # the event stream never ends: test_api_events.py reads it
            r = api.request(route.method, _path(route), admin)
            # The lift with no kill flag is 409, a made-up confirmation id 404: both are
            # replies too, and must not echo the token either.
            assert r.status_code == route.status or str(r.status_code) in route.errors, (
                route.path,
                r.text,
            )
            bodies += [r.text, str(r.headers)]
        # A careless client putting the token in the query string: not logged either.
        r = api.get(f"{PREFIX}/bots?token={admin}", admin)
        bodies.append(r.text)
        bodies.append(api.get("/openapi.json").text)
    server = [r for r in caplog.records if not r.name.startswith("urllib3")]  # the client's
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in server)
    assert "GET /api/v1/bots 200" in logged  # the server did log each request
    secret = admin.removeprefix("alpha_")
    for text in [*bodies, logged]:
        assert secret not in text
    rows = audit_rows(database)
    assert secret not in str(rows) and {r["username"] for r in rows} == {"boss"}


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
def test_probe_and_description_are_public(database, redis, path) -> None:
    with running_api(database) as api:
        r = api.get(path)
        assert r.status_code == 200
        if path == "/healthz":
            assert check_reply(r, "Health")["checks"] == {
                "db": {"ok": True, "detail": "ok"},
                "redis": {"ok": True, "detail": "ok"},
            }
