"""``alpha kill status|lift``: the CLI twin of the C2's /unkill, audited before its effect."""

from __future__ import annotations

from datetime import UTC, datetime

from core import kill_switch, redis_keys
from core.config import Role
from core.redis_client import redis_client


def _audit_rows(database) -> list[tuple]:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT channel, command, bot_id, outcome, detail FROM trading.bot_commands"
            " WHERE command = 'kill lift' ORDER BY id"
        ).fetchall()


def _infra(database):
    return redis_client(database.settings, database.settings.redis.infra_db)


def test_lift_needs_yes_then_clears_the_flag_with_an_audit_row(database, redis) -> None:
    infra = _infra(database)
    at = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    infra.set(redis_keys.KILL_FLAG, kill_switch.flag_value("telegram:1001:ops", at))

    status = database.alpha("kill", "status")
    assert status.returncode == 0
    assert status.stdout.strip() == (
        "kill switch: SET by telegram:1001:ops at 2026-12-05T09:30:00+00:00"
    )

    refused = database.alpha("kill", "lift")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "alpha: error: the kill switch was set by telegram:1001:ops at 2026-12-05T09:30:00+00:00;"
        " lifting it lets bots you resume enter again: repeat with --yes"
    ]
    assert infra.exists(redis_keys.KILL_FLAG) == 1
    assert _audit_rows(database) == []

    lifted = database.alpha("kill", "lift", "--yes")
    assert lifted.returncode == 0, lifted.stderr
    assert "every bot stays paused" in lifted.stdout
    assert infra.exists(redis_keys.KILL_FLAG) == 0
    assert _audit_rows(database) == [
        ("cli", "kill lift", None, "accepted",
         "set by telegram:1001:ops at 2026-12-05T09:30:00+00:00"),
    ]  # fmt: skip
    assert database.alpha("kill", "status").stdout.strip() == "kill switch: not set"


def test_lifting_an_unset_switch_changes_nothing(database, redis) -> None:
    done = database.alpha("kill", "lift", "--yes")
    assert done.returncode == 0
    assert done.stdout.strip() == "kill switch: not set; nothing to lift"
    assert _audit_rows(database) == []


def test_a_flag_set_by_hand_is_still_a_kill(database, redis) -> None:
    _infra(database).set(redis_keys.KILL_FLAG, "1")
    assert database.alpha("kill", "status").stdout.strip() == "kill switch: SET by ? at ?"
