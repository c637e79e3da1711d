"""The daily summary: scheduled with PTB's ``run_daily`` at ``C2_TELEGRAM_DAILY_SUMMARY_UTC``
and, when it runs, sent once to each admin with every bot's net P&L of the UTC day that
just ended (fills written as the listener role; amounts hand-computed below).

The job is triggered through PTB's JobQueue (``Job.run``), never by waiting for the clock;
the schedule is checked on the job's APScheduler trigger.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from c2_harness import ADMIN, ADMIN_2, VIEWER, FakeClock, add_bot, add_fill, run, running_c2

from core.config import Role

SUMMARY_AT = time(6, 30, tzinfo=UTC)  # deliberately not the default 00:05
DAY = datetime(2026, 3, 10, tzinfo=UTC)  # the day being summarised
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)


def _at(day: datetime, hh: int, mm: int, ss: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss)


def _add_funding(c2_env, bot_id: str, exec_id: str, fee: str, when: datetime) -> None:
    with c2_env.connect(Role.LISTENER) as conn:
        conn.execute(
            "INSERT INTO trading.funding (account, exec_id, bot_id, symbol, side, funding_fee,"
            " exec_time, source, raw) VALUES ('main', %s, %s, 'ETHUSDT', 'Sell', %s, %s,"
            " 'ws', '{}')",
            (exec_id, bot_id, Decimal(fee), when),
        )


def _seed(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)
    add_bot(c2_env, "gamma_three", "g3", 5)
    # alpha_one (BTCUSDT)
    #   day before, 23:59:59  Buy 1 @ 100, fee 0.04            (that day: −0.04)
    #   DAY 00:00:00          Sell 1 @ 104, fee 0.06           gross +4,   net +3.94
    #   DAY 01:00             Buy 2 @ 100, fee 0.10
    #   DAY 15:00             Sell 2 @ 103.25, fee 0.11        gross +6.5, fees 0.21 → +6.29
    #   day after, 00:01      Buy 1 @ 50, fee 0.03             (next day; stays open)
    #   DAY net = 3.94 + 6.29 = +10.23
    add_fill(c2_env, "alpha_one", "a-1", "Buy", "100", "1", "0.04", _at(BEFORE, 23, 59, 59))
    add_fill(c2_env, "alpha_one", "a-2", "Sell", "104", "1", "0.06", _at(DAY, 0, 0))
    add_fill(c2_env, "alpha_one", "a-3", "Buy", "100", "2", "0.10", _at(DAY, 1, 0))
    add_fill(c2_env, "alpha_one", "a-4", "Sell", "103.25", "2", "0.11", _at(DAY, 15, 0))
    add_fill(c2_env, "alpha_one", "a-5", "Buy", "50", "1", "0.03", _at(AFTER, 0, 1))
    # beta_two (ETHUSDT), a losing short plus funding paid
    #   DAY 02:00             Sell 0.5 @ 200, fee 0.05
    #   DAY 23:59:59          Buy 0.5 @ 210, fee 0.06          gross −5, fees 0.11 → −5.11
    #   DAY 08:00             funding paid 0.02                                     → −0.02
    #   DAY net = −5.13
    add_fill(c2_env, "beta_two", "b-1", "Sell", "200", "0.5", "0.05", _at(DAY, 2, 0), "ETHUSDT")
    add_fill(
        c2_env, "beta_two", "b-2", "Buy", "210", "0.5", "0.06", _at(DAY, 23, 59, 59), "ETHUSDT"
    )
    _add_funding(c2_env, "beta_two", "b-f1", "0.02", _at(DAY, 8, 0))
    # gamma_three traded only the day before: DAY net 0.
    add_fill(c2_env, "gamma_three", "g-1", "Buy", "10", "1", "0.01", _at(BEFORE, 9, 0))
    add_fill(c2_env, "gamma_three", "g-2", "Sell", "12", "1", "0.01", _at(BEFORE, 10, 0))
    # Total: 10.23 − 5.13 + 0 = +5.10


def test_daily_summary_scheduled_at_configured_utc_time_and_sent_once_per_admin(
    c2_env,
) -> None:
    _seed(c2_env)
    # The C2's clock reads the configured time on the day after DAY, as when the job fires.
    clock = FakeClock(datetime.combine(AFTER.date(), SUMMARY_AT))

    async def scenario() -> None:
        async with running_c2(
            c2_env,
            admins=(ADMIN, ADMIN_2),
            clock=clock,
            telegram_overrides={"daily_summary_utc": "06:30"},
        ) as c2:
            jobs = [j for j in c2.app.job_queue.jobs() if j.name == "daily-summary"]
            assert len(jobs) == 1, [j.name for j in c2.app.job_queue.jobs()]
            job = jobs[0]
            # Scheduled daily at 06:30 UTC: the trigger's next fire time, asked from
            # instants around the configured time (no waiting on the wall clock).
            trigger = job.job.trigger
            just_before = datetime.combine(DAY.date(), time(6, 29, 59), tzinfo=UTC)
            just_after = datetime.combine(DAY.date(), time(6, 30, 1), tzinfo=UTC)
            first = trigger.get_next_fire_time(None, just_before)
            assert first.astimezone(UTC) == datetime.combine(DAY.date(), SUMMARY_AT)
            following = trigger.get_next_fire_time(first, just_after)
            assert following.astimezone(UTC) == datetime.combine(AFTER.date(), SUMMARY_AT)
            next_t = job.next_t
            assert next_t is not None and next_t.astimezone(UTC).timetz() == SUMMARY_AT
            assert timedelta(0) < next_t - datetime.now(UTC) <= timedelta(days=1)

            mark = len(c2.api.calls)
            await job.run(c2.app)
            sent = [c for c in c2.api.calls[mark:] if c.method == "sendMessage"]
            # Exactly one message per admin, nothing to anyone else (viewers included).
            assert sorted(int(c.params["chat_id"]) for c in sent) == [ADMIN, ADMIN_2]
            assert VIEWER not in {int(c.params.get("chat_id", 0)) for c in c2.api.calls}
            texts = {int(c.params["chat_id"]): str(c.params["text"]) for c in sent}
            assert texts[ADMIN] == texts[ADMIN_2]
            lines = texts[ADMIN].splitlines()
            assert lines[0] == f"Daily summary for {DAY.date()} (UTC)"
            assert lines[1:5] == [
                "• alpha_one: +10.23 USDT, 1 open, active",
                "• beta_two: -5.13 USDT, 0 open, active",
                "• gamma_three: +0.00 USDT, 0 open, active",
                "Total: +5.10 USDT",
            ], texts[ADMIN]
            assert "external" not in texts[ADMIN]
            assert lines[5:] == ["Open drift: none", "Last backup: none"]

    run(scenario())
