"""``POST /webhook/{bot_id}`` against the real database and Redis: who is let in, what is
refused, what is recorded, and exactly what reaches the bot's command stream. The whole
path to the exchange is ``tests/bots/e2e/test_e2e_webhook.py``."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from api_harness import check_reply, make_token, running_api

from api import webhook_secrets
from api.routes import PREFIX
from core.config import Role
from core.operator.redis_pool import RedisPool

BOT = "tv_bot"
REDIS_DB = 4
URL = f"/webhook/{BOT}"


def _register(database, bot_id: str = BOT, bot_type: str = "webhook") -> None:
    redis_db = REDIS_DB if bot_id == BOT else None
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
            " mode, redis_db, status, symbols, initial_capital)"
            " VALUES (%s, %s, %s, %s, %s, 'paper', %s, 'active', '{BTCUSDT,ETHUSDT}', 1000)",
            (bot_id, "w" + bot_id[:2], bot_id, bot_type, bot_type, redis_db),
        )


def _secret(database, bot_id: str = BOT) -> str:
    with database.connect(Role.OWNER, direct=True) as conn:
        return webhook_secrets.set_secret(conn, bot_id)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _alert(secret: str | None, alert_id: str = "a1", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": alert_id, "time": _now(), "action": "enter_long", "symbol": "BTCUSDT",
        "qty": "0.01",
    }  # fmt: skip
    if secret is not None:
        body["secret"] = secret
    return {**body, **extra}


def _rows(database) -> list[tuple]:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT alert_id, action, outcome, detail, payload::text"
            " FROM trading.webhook_signals ORDER BY id"
        ).fetchall()


def _stream(services) -> list[dict[str, str]]:
    return [f for _id, f in services.redis(REDIS_DB).xrange(f"commands:{BOT}")]


def _outcome(response, status: int) -> str:
    assert response.status_code == status, response.text
    return check_reply(response, "WebhookReply")["outcome"]


def test_an_accepted_alert_reaches_the_bot_stream_once_with_exact_numbers(
    database, services, redis
) -> None:
    _register(database)
    secret = _secret(database)
    with running_api(database) as api:
        # A JSON number, as TradingView's {{close}} sends it: the digits survive as written.
        body = json.dumps(_alert(secret, risk_pct=None, stop=59000.5, price=60000.25))
        body = body.replace('"qty": "0.01"', '"qty": 0.1')
        first = api.post(URL, data=body, headers={"Content-Type": "application/json"})
        assert _outcome(first, 202) == "accepted"
        again = api.post(URL, data=body, headers={"Content-Type": "text/plain"})
        assert _outcome(again, 200) == "duplicate"
    [entry] = _stream(services)
    assert entry == {
        "command": "signal", "requested_by": "webhook", "id": str(first.json()["signal_id"]),
        "alert_id": "a1", "time": entry["time"], "action": "enter_long", "symbol": "BTCUSDT",
        "qty": "0.1", "stop": "59000.5", "price": "60000.25", "expires": entry["expires"],
    }  # fmt: skip
    # The bot drops it should it only get to it after the TTL (docs/api.md#webhooks).
    left = datetime.fromisoformat(entry["expires"]) - datetime.now(UTC)
    assert timedelta(0) < left <= timedelta(seconds=60)
    rows = _rows(database)
    assert [(r[0], r[2]) for r in rows] == [("a1", "accepted"), ("a1", "duplicate")]
    assert not any(secret in r[4] for r in rows)  # the secret is never stored


def test_refusals_are_recorded_and_nothing_reaches_the_bot(database, services, redis) -> None:
    _register(database)
    _register(database, "trend_bot", "momentum")
    with running_api(database, webhook_ttl_seconds=30) as api:
        # Before any secret is set, nothing is accepted, not even an empty secret.
        assert _outcome(api.post(URL, json=_alert("")), 401) == "bad_secret"
        secret = _secret(database)
        assert _outcome(api.post(URL, json=_alert("whs_wrong")), 401) == "bad_secret"
        assert _outcome(api.post(URL, json=_alert(None)), 401) == "bad_secret"
        assert _outcome(api.post(URL, data=b"not json"), 401) == "bad_secret"
        # Numbers that no float or plain notation could hold are recorded as written.
        huge = b'{"qty": 1e999999999}'
        assert _outcome(api.post(URL, data=huge), 401) == "bad_secret"
        too_long = b'{"qty": ' + b"9" * 5000 + b"}"  # beyond Python's int conversion
        assert _outcome(api.post(URL, data=too_long), 401) == "bad_secret"
        old = (datetime.now(UTC) - timedelta(seconds=31)).isoformat()
        assert _outcome(api.post(URL, json=_alert(secret, time=old)), 422) == "stale"
        ahead = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        assert _outcome(api.post(URL, json=_alert(secret, time=ahead)), 422) == "stale"
        for bad in (
            {"action": "buy"},
            {"symbol": "SOLUSDT"},  # not one of the bot's symbols
            {"qty": "-1"},
            {"qty": None},  # an entry without a size
            {"risk_pct": "1"},  # both sizes
            {"time": "2024-01-01T00:00:00"},  # no zone
            {"id": ""},
        ):
            assert _outcome(api.post(URL, json=_alert(secret, **bad)), 400) == "invalid"
        # Not a webhook bot, or no bot at all: 404 and no row (a probe fills no table).
        assert api.post("/webhook/trend_bot", json=_alert(secret)).status_code == 404
        assert api.post("/webhook/nobody", json=_alert(secret)).status_code == 404
        # The old secret stops working the moment a new one is made.
        newer = _secret(database)
        assert _outcome(api.post(URL, json=_alert(secret, "a2")), 401) == "bad_secret"
        assert _outcome(api.post(URL, json=_alert(newer, "a2")), 202) == "accepted"
    outcomes = [r[2] for r in _rows(database)]
    assert outcomes == ["bad_secret"] * 6 + ["stale"] * 2 + ["invalid"] * 7 + [
        "bad_secret", "accepted",
    ]  # fmt: skip
    assert [f["alert_id"] for f in _stream(services)] == ["a2"]
    assert "not one of the bot's symbols" in _rows(database)[9][3]
    assert _rows(database)[4][4] == '{"qty": "1e999999999"}'
    assert _rows(database)[5][4].startswith('{"raw": "{\\"qty\\": 999')


def test_the_signal_record_is_readable_by_viewers_page_by_page(database, services, redis) -> None:
    _register(database)
    secret = _secret(database)
    token = make_token(database, "dash", "viewer")
    route = f"{PREFIX}/bots/{BOT}/signals"
    with running_api(database) as api:
        for i in range(3):
            api.post(URL, json=_alert(secret, f"p{i}"))
        api.post(URL, json=_alert("whs_wrong", "p9"))
        assert api.get(route).status_code == 401  # the record is not public
        first = check_reply(api.get(route, token, params={"limit": 2}), "Signals")
        rest = check_reply(
            api.get(route, token, params={"limit": 2, "cursor": first["next_cursor"]}), "Signals"
        )
        refused = check_reply(api.get(route, token, params={"outcome": "bad_secret"}), "Signals")
        missing = api.get(f"{PREFIX}/bots/nobody/signals", token)
    ids = [r["alert_id"] for r in first["signals"] + rest["signals"]]
    assert ids == ["p9", "p2", "p1", "p0"] and rest["next_cursor"] is None
    assert [r["detail"] for r in refused["signals"]] == ["wrong secret"]
    assert first["signals"][1]["payload"]["qty"] == "0.01"
    assert secret not in json.dumps([first, rest]) and "whs_wrong" not in json.dumps(refused)
    assert missing.status_code == 404


def test_a_signed_request_needs_no_secret_in_the_body(database, services, redis) -> None:
    _register(database)
    secret = _secret(database)
    stored = webhook_secrets.digest(secret)
    body = json.dumps({**_alert(None), "action": "exit"}).encode()
    headers = {"Content-Type": "application/json"}
    with running_api(database) as api:
        forged = api.post(URL, data=body, headers={**headers, "X-Signature": "sha256=" + "0" * 64})
        assert _outcome(forged, 401) == "bad_secret"
        # The key a sender uses is what the CLI prints: SHA-256 of the secret, as hex.
        assert webhook_secrets.sign(stored, body) == webhook_secrets.sign(
            bytes.fromhex(webhook_secrets.signing_key(secret)), body
        )
        signed = {**headers, "X-Signature": webhook_secrets.sign(stored, body)}
        assert _outcome(api.post(URL, data=body, headers=signed), 202) == "accepted"
        # A body changed after signing fails even though the signature is well formed.
        tampered = body.replace(b'"exit"', b'"enter_short"')
        assert _outcome(api.post(URL, data=tampered, headers=signed), 401) == "bad_secret"
    assert [f["action"] for f in _stream(services)] == ["exit"]


def test_a_redis_failure_records_failed_and_leaves_the_id_free(database, services, redis) -> None:
    _register(database)
    secret = _secret(database)
    with running_api(database) as api:
        live = api.ctx.redis
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed = int(sock.getsockname()[1])
        dead = replace(
            database.settings,
            redis=database.settings.redis.model_copy(update={"port": closed}),
        )
        api.ctx.redis = RedisPool(dead)
        assert _outcome(api.post(URL, json=_alert(secret)), 503) == "failed"
        api.ctx.redis = live
        # The accepted row rolled back with the failed delivery: the retry goes through.
        assert _outcome(api.post(URL, json=_alert(secret)), 202) == "accepted"
    assert [r[2] for r in _rows(database)] == ["failed", "accepted"]
    assert len(_stream(services)) == 1


def test_signals_per_bot_are_rate_limited_without_locking_the_sender_out(
    database, services, redis
) -> None:
    _register(database)
    secret = _secret(database)
    with running_api(database, webhook_rate_per_minute=3) as api:
        flood = [api.post(URL, json=_alert("whs_x", f"f{i}")).status_code for i in range(5)]
        # The flood of wrong secrets used up its own budget, not the real sender's.
        real = [api.post(URL, json=_alert(secret, f"r{i}")).status_code for i in range(4)]
    assert flood == [401, 401, 401, 429, 429]
    assert real == [202, 202, 202, 429]
    # Nothing past a limit is recorded or delivered.
    assert [r[2] for r in _rows(database)] == ["bad_secret"] * 3 + ["accepted"] * 3
    assert len(_stream(services)) == 3


@pytest.mark.parametrize("role", [Role.LISTENER, Role.BOT, Role.SYNC, Role.READONLY, Role.APP])
def test_only_the_api_reads_secrets_and_only_it_records_signals(database, role) -> None:
    _register(database)
    with database.connect(role) as conn:
        if role is Role.APP:
            conn.execute("SELECT count(*) FROM trading.webhook_secrets").fetchone()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE trading.webhook_secrets SET secret_hash = '\\x00'")
            return
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM trading.webhook_secrets")
        conn.rollback()
        if role is Role.READONLY:
            conn.execute("SELECT count(*) FROM trading.webhook_signals").fetchone()
        else:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM trading.webhook_signals")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO trading.webhook_signals (bot_id, payload, outcome)"
                " VALUES (%s, '{}', 'accepted')",
                (BOT,),
            )


def test_the_cli_prints_a_secret_once_and_refuses_other_bots_in_one_line(database) -> None:
    # Registered as an operator would: the webhook type and its config are validated.
    registered = database.alpha(
        "bots", "register", BOT, "--type", "webhook", "--code", "tv1", "--symbols", "BTCUSDT",
        "--mode", "paper", "--initial-capital", "1000", "--config", '{"max_qty": "0.05"}',
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    typo = database.alpha(
        "bots", "register", "tv_two", "--type", "webhook", "--code", "tv2", "--symbols",
        "BTCUSDT", "--mode", "paper", "--config", '{"max_qtty": "1"}',
    )  # fmt: skip
    assert typo.returncode != 0 and "max_qtty" in typo.stderr
    _register(database, "trend_bot", "momentum")
    made = database.alpha("api", "webhook-secret", BOT)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("whs_") and secret not in made.stderr
    assert webhook_secrets.signing_key(secret) in made.stderr
    with database.connect(Role.OWNER, direct=True) as conn:
        stored = conn.execute(
            "SELECT secret_hash FROM trading.webhook_secrets WHERE bot_id = %s", (BOT,)
        ).fetchone()[0]
    assert bytes(stored) == webhook_secrets.digest(secret)
    for args in (("trend_bot",), ("nobody",)):
        refused = database.alpha("api", "webhook-secret", *args)
        assert refused.returncode != 0
        assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    helped = database.alpha("api", "webhook-secret", "--help")
    assert helped.returncode == 0 and "TradingView" in helped.stdout
