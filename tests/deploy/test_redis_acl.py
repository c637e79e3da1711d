"""Redis ACLs as production runs them: deploy/redis/entrypoint.sh starts a real
redis-server from the generated template, and each role logs in through core's client.

What each role needs works; everything else, another bot's keys above all, is refused.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bots.runtime.lease import BotLease
from core import redis_keys
from core.config import load_settings
from core.ids import BotId
from core.lease import Lease
from core.operator import bot_reload
from core.operator.fill_claims import Answer, request_claim
from core.redis_client import redis_client
from deploy import redis_acl as template_writer
from devenv.ports import free_port
from devenv.system import require_binary
from trade_sync.handover import hand_over
from websocket_listener.claim_cli import claims_client
from websocket_listener.handover import trim_acknowledged
from websocket_listener.redis_mirror import APPEND_ENTRIES_LUA

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "redis" / "entrypoint.sh"
PASSWORDS = {
    "default": 'op"\\erator pw',  # quotes and backslashes must not break anything
    "listener": "pw-listener",
    "sync": "pw-sync",
    "c2": "pw-c2",
    "api": "pw-api",
    "backup": "pw-backup",
    "claims": "pw-claims",
    "bot-alpha_bot": "pw-alpha",
    "bot-beta_bot": "pw-beta",
}
ROLES = ("listener", "sync", "c2", "api", "backup", "claims")
INFRA = 15


def _env(run_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "REDIS_RUN_DIR": str(run_dir),
        "REDIS_ACL_TEMPLATE": str(template_writer.TEMPLATE),
        "REDIS_PASSWORD": PASSWORDS["default"],
        **{f"REDIS_PASSWORD_{role.upper()}": PASSWORDS[role] for role in ROLES},
        "REDIS_BOTS": "alpha_bot beta_bot",
        "REDIS_PASSWORD_BOT_ALPHA_BOT": PASSWORDS["bot-alpha_bot"],
        "REDIS_PASSWORD_BOT_BETA_BOT": PASSWORDS["bot-beta_bot"],
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("redis-acl")


@pytest.fixture(scope="module")
def server(run_dir: Path) -> Iterator[int]:
    require_binary("redis-server")
    port = free_port()
    subprocess.run(
        ["sh", str(ENTRYPOINT), "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
         "--pidfile", str(run_dir / "redis.pid"), "--logfile", str(run_dir / "redis.log"),
         "--dir", str(run_dir)],
        env=_env(run_dir), check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not (run_dir / "redis.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield port
    finally:
        pid = int((run_dir / "redis.pid").read_text())
        os.kill(pid, signal.SIGTERM)


@pytest.fixture(scope="module")
def acl_file(server: int, run_dir: Path) -> str:
    del server  # started: the file is written
    return (run_dir / "users.acl").read_text()


def login(monkeypatch: pytest.MonkeyPatch, port: int, user: str, db: int = 0) -> redis.Redis:
    """A client built the way every service builds it: from REDIS_* through core."""
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(port))
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORDS[user])
    if user == "default":
        monkeypatch.delenv("REDIS_USERNAME", raising=False)
    else:
        monkeypatch.setenv("REDIS_USERNAME", user)
    return redis_client(load_settings(), db)


def test_the_template_is_generated_from_the_code() -> None:
    assert template_writer.main(["--check"]) == 0


def test_the_acl_file_holds_hashes_not_passwords(acl_file: str) -> None:
    assert acl_file.count("\nuser ") + 1 == len(PASSWORDS)
    for password in PASSWORDS.values():
        assert password not in acl_file


def test_the_default_user_is_the_operator_without_dangerous_commands(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = login(monkeypatch, server, "default", 3)
    assert op.set("bot:beta_bot:state", "running")
    assert op.set("anything:at:all", "1")
    dangerous_commands: list[Callable[[], Any]] = [
        op.flushall,
        op.flushdb,
        op.info,
        op.acl_list,
        lambda: op.config_get("dir"),
        lambda: op.keys("*"),
        lambda: op.execute_command("REPLICAOF", "NO", "ONE"),
    ]
    for dangerous in dangerous_commands:
        with pytest.raises(redis.exceptions.NoPermissionError):
            dangerous()


def test_a_bot_works_with_its_own_keys(server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = login(monkeypatch, server, "bot-alpha_bot", 1)
    infra = login(monkeypatch, server, "bot-alpha_bot", INFRA)
    assert bot.set("bot:alpha_bot:state", "running")
    assert bot.hset("bot:alpha_bot:orders", "intent-1", "{}") == 1
    assert bot.zadd("bot:alpha_bot:seen_fills", {"exec-1": 1}) == 1
    for stream in ("fills:alpha_bot", "commands:alpha_bot"):
        bot.xgroup_create(stream, "bot", id="$", mkstream=True)
        assert bot.xreadgroup("bot", "alpha_bot", {stream: ">"}, count=1, block=1) == []
    assert bot.hgetall("position:alpha_bot:BTCUSDT") == {}
    assert infra.get("risk:kill") is None and infra.exists("risk:kill") == 0
    assert infra.xadd("alerts", {"kind": "risk_halt", "text": "halted"})
    assert list(bot.scan_iter("position:alpha_bot:*")) == []
    # The one-process lease renews itself with Lua scripts (core/lease.py).
    lease = BotLease(bot, "alpha_bot", ttl_seconds=1)
    lease.acquire()
    time.sleep(1.5)  # past the TTL: only renewals keep it
    assert bot.get(lease.key) == lease.token
    lease.release()
    assert bot.get(lease.key) is None


def _refused(action: Callable[[], Any]) -> None:
    """NOPERM for a command; a script that touches a key it may not gets Redis's own
    error (a ResponseError naming the key access)."""
    with pytest.raises(redis.exceptions.ResponseError) as refused:
        action()
    text = str(refused.value)
    assert "no permissions" in text or "can't access" in text, text


@pytest.mark.parametrize("db", [1, 2, 0, INFRA])
def test_a_bot_cannot_touch_another_bots_keys_in_any_db(
    server: int, monkeypatch: pytest.MonkeyPatch, db: int
) -> None:
    op = login(monkeypatch, server, "default", db)
    op.set("bot:beta_bot:state", "running")
    op.hset("position:beta_bot:BTCUSDT", mapping={"qty": "1"})
    op.xadd("fills:beta_bot", {"exec_id": "e1"})
    alpha = login(monkeypatch, server, "bot-alpha_bot", db)
    for action in (
        lambda: alpha.get("bot:beta_bot:state"),
        lambda: alpha.set("bot:beta_bot:state", "stopped"),
        lambda: alpha.delete("bot:beta_bot:state"),
        lambda: alpha.hgetall("position:beta_bot:BTCUSDT"),
        lambda: alpha.hset("position:beta_bot:BTCUSDT", "qty", "0"),
        lambda: alpha.xrange("fills:beta_bot"),
        lambda: alpha.xadd("fills:beta_bot", {"exec_id": "forged"}),
        lambda: alpha.xadd("commands:beta_bot", {"command": "flatten"}),
        lambda: alpha.hgetall("bot:beta_bot:orders"),
        # Its own position is the listener's to write.
        lambda: alpha.hset("position:alpha_bot:BTCUSDT", "qty", "5"),
        # Nor may it clear the kill switch or make alerts disappear.
        lambda: alpha.set("risk:kill", "1"),
        lambda: alpha.delete("risk:kill"),
        lambda: alpha.xrange("alerts"),
        lambda: alpha.xtrim("alerts", maxlen=0),
        lambda: alpha.delete("alerts"),
        lambda: alpha.flushdb(),
        lambda: alpha.config_set("appendonly", "no"),
        # A script is checked key by key like a command.
        lambda: alpha.eval("return redis.call('GET', KEYS[1])", 1, "bot:beta_bot:state"),
        lambda: alpha.eval("return redis.call('GET', 'bot:beta_bot:state')", 0),
    ):
        _refused(action)
    assert op.get("bot:beta_bot:state") == "running"
    assert op.xlen("fills:beta_bot") == 1


def test_the_listener_writes_positions_and_fill_streams_only(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = login(monkeypatch, server, "listener", 1)
    assert listener.hset("position:alpha_bot:ETHUSDT", mapping={"qty": "0.1"}) == 1
    appended = listener.eval(APPEND_ENTRIES_LUA, 1, "fills:alpha_bot", "100", "1", "exec_id", "e9")
    assert appended == 1
    infra = login(monkeypatch, server, "listener", INFRA)
    infra.hset("listener:status", "heartbeat", "now")
    infra.xgroup_create("listener:handover", "listener", id="0", mkstream=True)
    assert trim_acknowledged(infra, retain_seconds=0) == 0  # reads the server's TIME
    assert infra.xadd("alerts", {"kind": "listener", "text": "down"})
    # It consumes fill claims and answers each requester.
    infra.xgroup_create("listener:claims", "listener", id="0", mkstream=True)
    infra.xreadgroup("listener", "listener", {"listener:claims": ">"}, count=1)
    assert infra.rpush("listener:claims:reply:r1", "ok done") == 1
    assert infra.expire("listener:claims:reply:r1", 60)
    # Its one-process lease, renewed by Lua scripts (core/lease.py).
    lease = Lease(infra, redis_keys.LISTENER_LEASE, "the listener", ttl_seconds=1)
    lease.acquire()
    time.sleep(1.5)  # past the TTL: only renewals keep it
    assert infra.get(lease.key) == lease.token
    lease.release()
    assert infra.get(lease.key) is None
    _refused(lambda: listener.set("bot:alpha_bot:state", "stopped"))
    _refused(lambda: listener.xadd("commands:alpha_bot", {"command": "flatten"}))
    _refused(lambda: infra.set("risk:kill", "1"))


def test_trade_sync_hands_over_and_reports_only(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = login(monkeypatch, server, "sync", INFRA)
    assert hand_over(sync, "main", "execution", [{"execId": "x1"}]) == 1
    sync.hset("sync:status", "execution_audit:main", "{}")
    _refused(lambda: sync.xrange("listener:handover"))
    _refused(lambda: sync.hset("position:alpha_bot:BTCUSDT", "qty", "9"))
    _refused(lambda: login(monkeypatch, server, "sync", 1).get("bot:alpha_bot:state"))


def test_the_c2_controls_bots_but_cannot_write_the_ledger_cache(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    c2 = login(monkeypatch, server, "c2", 2)
    infra = login(monkeypatch, server, "c2", INFRA)
    assert c2.set("bot:beta_bot:state", "paused")
    assert c2.xadd("commands:beta_bot", {"command": "flatten", "id": "1"})
    c2.get("bot:beta_bot:heartbeat")
    assert infra.set("risk:kill", "1") and infra.delete("risk:kill") == 1
    infra.xgroup_create("alerts", "c2", id="0", mkstream=True)
    assert infra.xreadgroup("c2", "c2", {"alerts": ">"}, count=10)
    assert infra.xadd("backup:requests", {"by": "telegram:1"})
    _refused(lambda: c2.hset("position:beta_bot:BTCUSDT", "qty", "0"))
    _refused(lambda: c2.xadd("fills:beta_bot", {"exec_id": "forged"}))
    _refused(lambda: c2.hset("bot:beta_bot:orders", "x", "y"))


def test_the_c2_may_only_append_fill_claims_and_pop_their_answers(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    c2 = login(monkeypatch, server, "c2", INFRA)
    # Nobody answers here: the request is appended, the wait for the answer times out.
    assert request_claim(c2, "exec-1", "alpha_bot", "mine", "telegram:1", timeout=0.1) is None
    _refused(lambda: c2.xrange("listener:claims"))
    _refused(lambda: c2.xtrim("listener:claims", maxlen=0))
    _refused(lambda: c2.delete("listener:claims"))
    _refused(lambda: c2.xreadgroup("listener", "c2", {"listener:claims": ">"}))
    _refused(lambda: c2.rpush("listener:claims:reply:r1", "ok forged"))
    _refused(lambda: c2.xadd("listener:handover", {"kind": "execution"}))


def _answer_one_claim(listener: redis.Redis, exec_id: str, text: str) -> None:
    """The listener's side, as its own user: read the request, push the answer."""
    try:
        listener.xgroup_create("listener:claims", "listener", id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:
        assert "BUSYGROUP" in str(exc)
    for _ in range(100):
        for _stream, entries in (
            listener.xreadgroup("listener", "l", {"listener:claims": ">"}, count=10, block=100)
            or []
        ):
            for entry_id, fields in entries:
                listener.xack("listener:claims", "listener", entry_id)
                if fields["exec_id"] == exec_id:
                    listener.rpush(redis_keys.fill_claim_reply(fields["request_id"]), text)
                    return
    raise AssertionError("no claim request arrived")


def test_alpha_fills_assign_logs_in_as_the_claims_user_that_may_only_claim(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's shell: the default user's password, and the claims user's.
    login(monkeypatch, server, "default")
    monkeypatch.setenv("REDIS_CLAIMS_PASSWORD", PASSWORDS["claims"])
    cli = claims_client(load_settings())  # what `alpha fills assign` connects with
    listener = login(monkeypatch, server, "listener", INFRA)
    answering = threading.Thread(
        target=_answer_one_claim, args=(listener, "exec-9", "ok exec-9 now belongs to alpha_bot")
    )
    answering.start()
    answer = request_claim(cli, "exec-9", "alpha_bot", "mine", "cli:op", timeout=10)
    answering.join()
    assert answer == Answer(True, "exec-9 now belongs to alpha_bot")
    # Nothing else: not the kill flag, a bot's state or commands, the ledger cache, the
    # alerts, the claim stream's contents, another requester's answer.
    _refused(lambda: cli.get("risk:kill"))
    _refused(lambda: cli.delete("risk:kill"))
    _refused(lambda: cli.set("bot:alpha_bot:state", "running"))
    _refused(lambda: cli.get("bot:alpha_bot:state"))
    _refused(lambda: cli.xadd("commands:alpha_bot", {"command": "flatten", "id": "1"}))
    _refused(lambda: cli.hgetall("position:alpha_bot:BTCUSDT"))
    _refused(lambda: cli.xadd("alerts", {"kind": "forged"}))
    _refused(lambda: cli.xrange("listener:claims"))
    _refused(lambda: cli.xtrim("listener:claims", maxlen=0))
    _refused(lambda: cli.delete("listener:claims"))
    _refused(lambda: cli.xreadgroup("listener", "c", {"listener:claims": ">"}))
    _refused(lambda: cli.rpush("listener:claims:reply:r1", "ok forged"))
    _refused(lambda: cli.lrange("listener:claims:reply:r1", 0, -1))
    _refused(lambda: cli.xadd("listener:handover", {"kind": "execution"}))
    _refused(lambda: cli.keys("*"))
    # Without REDIS_CLAIMS_PASSWORD the CLI keeps the shell's own login.
    monkeypatch.delenv("REDIS_CLAIMS_PASSWORD")
    login(monkeypatch, server, "default")
    assert claims_client(load_settings()).set("anything:at:all", "2")


def test_the_api_sets_states_kills_and_appends_commands_but_cannot_read_them_or_consume_alerts(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = login(monkeypatch, server, "api", 2)
    infra = login(monkeypatch, server, "api", INFRA)
    assert api.set("bot:beta_bot:state", "paused")
    assert api.get("bot:beta_bot:state") == "paused"
    login(monkeypatch, server, "c2", INFRA).xadd("alerts", {"kind": "t", "text": "x"})
    assert infra.xrevrange("alerts", count=1)
    assert infra.xread({"alerts": "0-0"}, count=1)  # the event stream reads, no group
    _refused(lambda: infra.xadd("alerts", {"kind": "forged"}))
    _refused(lambda: infra.xgroup_create("alerts", "api", id="0"))
    _refused(lambda: infra.xtrim("alerts", maxlen=0))
    # The confirmed /kill and its lift, as the C2 does them.
    assert infra.set("risk:kill", "1")
    assert infra.get("risk:kill") == "1"
    assert infra.delete("risk:kill") == 1
    _refused(lambda: infra.expire("risk:kill", 1))
    _refused(lambda: infra.set("risk:other", "1"))
    assert api.xadd("commands:beta_bot", {"command": "flatten", "id": "1"})  # and webhooks
    _refused(lambda: api.xrange("commands:beta_bot"))
    _refused(lambda: api.xtrim("commands:beta_bot", maxlen=0))
    _refused(lambda: api.hgetall("position:beta_bot:BTCUSDT"))
    _refused(lambda: api.hset("bot:beta_bot:orders", "x", "y"))


def test_the_api_asks_a_running_bot_to_reload_and_pops_only_its_answer(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What PATCH /bots/{id} does after the update, as the api user: the heartbeat's
    existence, the reload on the command stream, the bot's answer popped from its reply
    key (core/operator/bot_reload.py); the bot itself pushes the answer."""
    bot = login(monkeypatch, server, "bot-beta_bot", 2)
    api = login(monkeypatch, server, "api", 2)
    assert bot.set("bot:beta_bot:heartbeat", "2026-12-05T23:50:00+00:00", ex=60)
    assert bot_reload.running(api, BotId("beta_bot"))
    assert not bot_reload.running(api, BotId("alpha_bot"))
    bot.rpush("bot:beta_bot:reply:c1", "applied: symbols")
    done = bot_reload.request_reload(api, BotId("beta_bot"), "api:1:ops", "c1", timeout=1)
    assert done.answer == "applied: symbols"
    assert bot.xrange("commands:beta_bot")[-1][1]["command"] == "reload"
    # Nothing beyond that: not the heartbeat's value, not another key of the bot, no push.
    _refused(lambda: api.get("bot:beta_bot:heartbeat"))
    _refused(lambda: api.blpop(["bot:beta_bot:orders"], timeout=1))
    _refused(lambda: api.rpush("bot:beta_bot:reply:c2", "applied: forged"))
    _refused(lambda: api.lrange("bot:beta_bot:reply:c1", 0, -1))
    _refused(lambda: api.delete("bot:beta_bot:reply:c1"))


def test_the_api_keeps_its_confirmations_and_requests_backups_only(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What api/confirmations.py and POST /backups send, as the api user."""
    infra = login(monkeypatch, server, "api", INFRA)
    assert infra.set("api:confirm:abc", '{"action": "kill"}', ex=3660, nx=True)
    assert infra.zadd("api:confirm:_due", {"abc": 1.0}) == 1
    assert infra.get("api:confirm:abc") == '{"action": "kill"}'
    assert infra.zrangebyscore("api:confirm:_due", "-inf", 2.0) == ["abc"]
    assert infra.zrem("api:confirm:_due", "abc") == 1
    assert infra.delete("api:confirm:abc") == 1
    assert infra.xadd("backup:requests", {"request_id": "r1", "requested_by": "api:1:ops"})
    _refused(lambda: infra.xrange("backup:requests"))
    _refused(lambda: infra.xtrim("backup:requests", maxlen=0))
    _refused(lambda: infra.set("api:other", "1"))
    _refused(lambda: infra.get("sync:status"))


def test_backup_reads_its_requests_and_raises_alerts_only(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = login(monkeypatch, server, "backup", INFRA)
    backup.xgroup_create("backup:requests", "backup", id="0", mkstream=True)
    backup.xreadgroup("backup", "backup", {"backup:requests": ">"}, count=1)
    assert backup.xadd("alerts", {"kind": "backup", "text": "done"})
    _refused(lambda: backup.get("risk:kill"))
    _refused(lambda: login(monkeypatch, server, "backup", 0).get("bot:alpha_bot:state"))


def test_a_wrong_password_or_unknown_user_is_refused(
    server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(PASSWORDS, "bot-alpha_bot", "pw-beta")
    with pytest.raises(redis.exceptions.AuthenticationError):
        login(monkeypatch, server, "bot-alpha_bot").ping()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"REDIS_PASSWORD_C2": ""}, "redis: REDIS_PASSWORD_C2 is not set"),
        ({"REDIS_PASSWORD_BOT_BETA_BOT": ""}, "redis: REDIS_PASSWORD_BOT_BETA_BOT is not set"),
        ({"REDIS_BOTS": "alpha_bot Beta;rm"}, "redis: REDIS_BOTS: bad bot id 'Beta;rm'"),
        ({"REDIS_PASSWORD_SYNC_FILE": "/nonexistent"},
         "redis: set either REDIS_PASSWORD_SYNC or REDIS_PASSWORD_SYNC_FILE, not both"),
    ],
)  # fmt: skip
def test_the_entrypoint_refuses_a_bad_environment_in_one_line(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    env = {**_env(tmp_path), **change}
    done = subprocess.run(["sh", str(ENTRYPOINT), "--port", "0"], env=env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == message


def test_passwords_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "c2.password"
    secret.write_text("from-a-file")
    env = {k: v for k, v in _env(tmp_path).items() if k != "REDIS_PASSWORD_C2"}
    env["REDIS_PASSWORD_C2_FILE"] = str(secret)
    # redis-server stops at once on the unknown option: only the written files matter.
    subprocess.run(["sh", str(ENTRYPOINT), "--version"], env=env, capture_output=True, timeout=30)
    acl = (tmp_path / "users.acl").read_text()
    assert (tmp_path / "users.acl").stat().st_mode & 0o777 == 0o600
    assert "from-a-file" not in acl
    assert f"user c2 reset on #{hashlib.sha256(b'from-a-file').hexdigest()} " in acl
