"""The C2's reading of the listener's status hash: a dead listener must not look alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telegram_c2.ops import listener_health

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def status(beat_age_s: float, connected: str = "1", last_msg_age_s: float = 2) -> dict[str, str]:
    return {
        "heartbeat": (NOW - timedelta(seconds=beat_age_s)).isoformat(),
        "main:connected": connected,
        "solo:connected": "1",
        "main:last_message_at": f"{(NOW - timedelta(seconds=last_msg_age_s)).timestamp():.3f}",
        "solo:last_message_at": "0.000",  # never received anything yet
    }


def test_a_fresh_connected_listener_is_healthy_with_its_lag() -> None:
    health = listener_health(status(beat_age_s=3), now=NOW)
    assert health.connected is True
    assert health.last_message_at == NOW - timedelta(seconds=2)
    assert health.lag == "2000 ms"


def test_a_listener_that_died_while_connected_is_reported_down() -> None:
    assert listener_health(status(beat_age_s=120), now=NOW).connected is False


def test_one_disconnected_account_is_down_and_no_status_is_unknown() -> None:
    assert listener_health(status(beat_age_s=1, connected="0"), now=NOW).connected is False
    assert listener_health({}, now=NOW).connected is None
