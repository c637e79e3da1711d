"""A bot whose strategy has no loss stop (ShortSeller) is halted by the host's limit."""

from __future__ import annotations

import pytest

from core import redis_keys
from core.config import Role
from core.redis_client import redis_client
from tests.bots.e2e.harness import flat_bars, stack, wait
from tests.bots.e2e.test_e2e_restart import CONFIG

BOT = "ss_loss"


def _bars():
    history = [(60000 + 10 * (i - 1), 60000 + 10 * i, 60000 + 10 * (i - 1), 60000 + 10 * i)
               for i in range(20)]  # fmt: skip
    live = [(60190, 60190, 59800, 59800)]  # bar 20: the cross, a short entry
    live.append((59800, 60500, 59800, 60450))  # bar 21: through the 1 % stop: ~0.8 % lost
    live += flat_bars(60450, 8)
    live.append((60450, 60450, 59000, 59000))  # bar 30: crosses below again
    return history, [*live, *flat_bars(59000, 20)]


@pytest.mark.parametrize("limit", [None, "0.5"])
def test_daily_loss_limit_halts_the_next_entry(database, redis, tmp_path, limit):
    history, live = _bars()
    config = CONFIG | {"cooldown_minutes": 0}
    if limit is not None:
        config["risk"] = {"max_daily_loss_pct": limit}
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "sl1", "shortseller", config, redis_db=1)
        s.start_bot(BOT)
        s.play(14)
        entries = [f for f in s.fills(BOT) if f.reason == "entry"]
        infra = redis_client(s.settings, s.settings.redis.infra_db)
        halts = [f for _, f in infra.xrange(redis_keys.ALERTS) if f["kind"] == "risk_halt"]
        if limit is None:  # the control: the second cross does enter
            assert len(entries) == 2 and halts == []
        else:
            assert len(entries) == 1
            assert [f.reason for f in s.fills(BOT)] == ["entry", "sl"]
            assert len(halts) == 1 and halts[0]["bot_id"] == BOT
            assert "daily loss" in halts[0]["text"]


def test_an_operator_lifts_the_halt_with_reset_risk(database, redis, tmp_path):
    """`alpha bots reset-risk` (audited) puts the command on the bot's stream; the running
    bot lifts its halt, so the second cross enters as it would without the limit."""
    history, live = _bars()
    config = CONFIG | {"cooldown_minutes": 0, "risk": {"max_daily_loss_pct": "0.5"}}
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "sl1", "shortseller", config, redis_db=1)
        s.start_bot(BOT)
        s.play(3)  # the entry, the stop (~0.8 % lost), one flat bar
        infra = redis_client(s.settings, s.settings.redis.infra_db)

        def risk_alerts() -> list[dict[str, str]]:
            kinds = ("risk_halt", "risk_lift")
            return [f for _, f in infra.xrange(redis_keys.ALERTS) if f["kind"] in kinds]

        assert [a["resolved"] for a in risk_alerts()] == ["0"]
        done = database.alpha("bots", "reset-risk", BOT)
        assert done.returncode == 0, done.stderr
        assert f"{BOT}: reset-risk sent" in done.stdout
        wait(lambda: [a["resolved"] for a in risk_alerts()] == ["0", "1"], what="the lift")
        assert "reset by cli" in risk_alerts()[-1]["text"]
        s.play(11)  # through bar 30: the second cross
        assert [f.reason for f in s.fills(BOT)][:3] == ["entry", "sl", "entry"]
    with database.connect(Role.OWNER, direct=True) as conn:
        rows = conn.execute(
            "SELECT channel, command, bot_id FROM trading.bot_commands WHERE command = 'reset-risk'"
        ).fetchall()
    assert rows == [("cli", "reset-risk", BOT)]
