"""``GET /api/v1/events`` read by a real HTTP client against the real database and Redis:
alerts from the infra stream (without touching the C2's consumer group), new fills from
the ledger, bot state changes, heartbeats, and resuming with ``Last-Event-ID``."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from api_harness import RunningApi, add_bot, add_fill, check_reply, make_token, running_api
from pydantic import SecretStr

from api.context import ApiContext
from api.routes import PREFIX
from devenv.ports import free_port
from devenv.redis_server import RedisServer

INFRA = 15


class EventReader:
    """The SSE wire format, parsed line by line from a streaming ``requests`` reply."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self._lines: Iterator[str] = response.iter_lines(decode_unicode=True)
        self.comments: list[str] = []

    def next(self) -> dict[str, Any]:
        event: dict[str, Any] = {}
        for line in self._lines:
            if line == "":
                if event:
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")

    def until(self, kind: str, match: Any = lambda data: True) -> dict[str, Any]:
        """The next ``kind`` event whose data matches; fails after 40 events."""
        for _ in range(40):
            event = self.next()
            if event["event"] == kind and match(event["data"]):
                return event
        raise AssertionError(f"no {kind} event")


def _open(api, token: str, last_event_id: str | None = None) -> EventReader:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    r = requests.get(
        f"{api.url}{PREFIX}/events",
        headers={"Authorization": f"Bearer {token}", **headers},
        stream=True,
        timeout=15,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/event-stream")
    return EventReader(r)


def test_a_viewer_sees_alerts_fills_and_state_changes_as_they_happen(
    database, services, redis
) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    add_bot(database, "beta_two", "b2")
    viewer = make_token(database, "wall", "viewer")
    admin = make_token(database, "ops", "admin")
    infra = services.redis(INFRA)
    infra.xadd("alerts", {"kind": "old", "text": "before the stream opened"})
    infra.xgroup_create("alerts", "c2", id="0")
    add_fill(database, "alpha_one", "old-1", "Buy", "100", "1", datetime.now(UTC))
    with running_api(database, events_poll_seconds=0.2) as api:
        stream = _open(api, viewer)
        opening = [stream.next() for _ in range(2)]
        assert [(e["event"], e["data"]["bot_id"]) for e in opening] == [
            ("bot", "alpha_one"),
            ("bot", "beta_two"),
        ]
        assert opening[0]["data"] == {"bot_id": "alpha_one", "status": "active", "state": None}

        infra.xadd("alerts", {"kind": "drift", "text": "sum of bots differs"})
        alert = stream.until("alert")
        assert alert["data"]["fields"] == {"kind": "drift", "text": "sum of bots differs"}

        add_fill(database, "beta_two", "new-1", "Sell", "101.5", "0.25", datetime.now(UTC))
        fill = stream.until("fill")
        assert fill["data"]["exec_id"] == "new-1" and fill["data"]["bot_id"] == "beta_two"
        assert fill["data"]["exec_price"] == "101.5" and fill["data"]["exec_qty"] == "0.25"

        check_reply(api.post(f"{PREFIX}/bots/a1/pause", admin), "StateChange")
        change = stream.until("bot")
        assert change["data"] == {"bot_id": "alpha_one", "status": "paused", "state": "paused"}
        stream.response.close()

    seen = {e["data"].get("exec_id") for e in [*opening, alert, fill, change]}
    assert "old-1" not in seen  # from now, not from the start of the ledger
    # XREAD, not a group: the C2's group still has every alert to deliver.
    group = infra.xinfo_groups("alerts")[0]
    assert group["pending"] == 0 and group["last-delivered-id"] == "0-0"


def test_last_event_id_resumes_after_both_cursors(database, services, redis) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    viewer = make_token(database, "wall", "viewer")
    infra = services.redis(INFRA)
    with running_api(database, events_poll_seconds=0.2) as api:
        first = _open(api, viewer)
        first.next()  # alpha_one's state
        infra.xadd("alerts", {"kind": "a", "text": "one"})
        add_fill(database, "alpha_one", "f-1", "Buy", "100", "1", datetime.now(UTC))
        first.until("alert")
        last = first.until("fill")
        first.response.close()

        # Missed while away: one alert and one fill.
        infra.xadd("alerts", {"kind": "a", "text": "two"})
        add_fill(database, "alpha_one", "f-2", "Sell", "100", "1", datetime.now(UTC))

        again = _open(api, viewer, last["id"])
        assert again.next()["event"] == "bot"  # a fresh snapshot of every bot
        got = [again.next() for _ in range(2)]
        assert [(e["event"], e["data"].get("fields", {}).get("text")) for e in got] == [
            ("alert", "two"),
            ("fill", None),
        ]
        assert got[1]["data"]["exec_id"] == "f-2"  # not f-1 again
        again.response.close()

        # An id this API never handed out: the stream starts from now, not from zero.
        fresh = _open(api, viewer, "not-a-cursor")
        fresh.next()
        infra.xadd("alerts", {"kind": "a", "text": "three"})
        assert fresh.until("alert")["data"]["fields"]["text"] == "three"
        fresh.response.close()


def test_heartbeats_keep_a_quiet_stream_alive_and_a_token_is_required(database, redis) -> None:
    viewer = make_token(database, "wall", "viewer")
    with running_api(database, events_poll_seconds=0.1, events_heartbeat_seconds=0.3) as api:
        assert api.get(f"{PREFIX}/events").status_code == 401
        stream = _open(api, viewer)
        deadline = time.monotonic() + 10
        lines = stream.response.iter_lines(decode_unicode=True)
        while ": heartbeat" not in (next(lines) or ""):
            assert time.monotonic() < deadline
        stream.response.close()


def test_a_batch_of_fills_does_not_end_between_the_shares_of_one_execution(
    database, services, redis
) -> None:
    """499 fills and an ADL split between two bots, committed together: the first poll's
    500 rows would end after the ADL's first share; both shares must still be sent."""
    add_bot(database, "alpha_one", "a1", redis_db=3)
    add_bot(database, "beta_two", "b2")
    viewer = make_token(database, "wall", "viewer")
    with running_api(database, events_poll_seconds=0.2) as api:
        stream = _open(api, viewer)
        [stream.next() for _ in range(2)]  # the bots' states
        with database.connect("listener") as conn:
            conn.execute(
                "INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price,"
                " exec_qty, exec_value, exec_fee, exec_time, source, raw, attribution)"
                " SELECT 'main', 'one-' || lpad(g::text, 3, '0'), 'alpha_one', 'BTCUSDT',"
                "  'Buy', 100, 1, 100, 0, now(), 'ws', '{}'::json, 'link_id'"
                " FROM generate_series(1, 499) g"
                " UNION ALL SELECT 'main', 'zz-adl', bot, 'BTCUSDT', 'Sell', 100, 1, 100, 0,"
                "  now(), 'ws', '{}'::json, 'pro_rata'"
                " FROM unnest(ARRAY['alpha_one', 'beta_two']) bot"
            )
            conn.commit()
        seen: list[tuple[str, str]] = []
        while len(seen) < 501:
            event = stream.next()
            if event["event"] == "fill":
                seen.append((event["data"]["exec_id"], event["data"]["bot_id"]))
        stream.response.close()
    assert len(set(seen)) == 501
    assert ("zz-adl", "alpha_one") in seen and ("zz-adl", "beta_two") in seen


def test_a_stream_that_loses_redis_ends_with_one_warning(database, redis, tmp_path, caplog):
    """Before: the stream's end logged the ConnectionError's whole traceback at ERROR, for
    every open dashboard, whenever Redis restarted."""
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())
    server.start()
    own = database.settings.redis.model_copy(
        update={"host": server.host, "port": server.port, "username": None,
                "password": SecretStr(server.password or "")}
    )  # fmt: skip
    viewer = make_token(database, "wall", "viewer")
    api = RunningApi(
        ApiContext(dataclasses.replace(database.settings, redis=own), events_poll_seconds=0.1,
                   events_heartbeat_seconds=0.2)
    ).start()  # fmt: skip
    try:
        with caplog.at_level(logging.INFO, logger="api.events"):
            stream = _open(api, viewer)
            lines = stream.response.iter_lines(decode_unicode=True)
            assert ": heartbeat" in next(line for line in lines if line)  # streaming
            server.stop()
            deadline = time.monotonic() + 10
            for _ in lines:  # the server ends the stream
                assert time.monotonic() < deadline, "the stream went on without Redis"
    finally:
        api.stop()
        server.stop()
    records = [r for r in caplog.records if r.name == "api.events"]
    assert [(r.levelname, r.exc_info) for r in records] == [("WARNING", None)]
    assert records[0].getMessage() == (
        "event stream ended: Redis unreachable (ConnectionError); "
        "the client resumes with Last-Event-ID"
    )
