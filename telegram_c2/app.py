"""Build and run the python-telegram-bot (v22) Application for the C2."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, time, timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from core.errors import ConfigError
from core.outages import OutageNotice, unreachable
from telegram_c2.access import Level, Rank
from telegram_c2.alerts import AlertPump, Monitor, daily_summary
from telegram_c2.channels import Channel, ChannelPump, Timing, build_channels
from telegram_c2.commands import ALL, danger
from telegram_c2.commands.base import Command, Invocation, Result, run
from telegram_c2.flood import FloodLimiter
from telegram_c2.services import C2

log = logging.getLogger(__name__)


def require_token(c2: C2) -> str:
    token = c2.settings.telegram.bot_token
    if token is None or not token.get_secret_value().strip():
        raise ConfigError("C2_TELEGRAM_BOT_TOKEN: not set (or C2_TELEGRAM_BOT_TOKEN_FILE)")
    if not c2.settings.telegram.admin_ids:
        raise ConfigError("C2_TELEGRAM_ADMIN_IDS: not set; nobody could command the bots")
    return token.get_secret_value().strip()


def help_text(rank: Rank) -> str:
    """The commands ``rank`` may run, grouped: read, control, dangerous (confirmed)."""
    dangerous = {c.name for c in danger.COMMANDS}
    groups: dict[str, list[Command]] = {"Read": [], "Control": [], "Dangerous (confirm)": []}
    for c in ALL:
        if c.level is Level.READ:
            groups["Read"].append(c)
        elif rank is Rank.ADMIN:
            groups["Dangerous (confirm)" if c.name in dangerous else "Control"].append(c)
    lines: list[str] = []
    for title, commands in groups.items():
        if commands:
            lines += ["", f"{title}:"] if lines else [f"{title}:"]
            lines += [f"{c.usage} — {c.help}" for c in commands]
    if rank is not Rank.ADMIN:
        lines += ["", "(read-only access)"]
    return "\n".join(lines)


async def _help(inv: Invocation) -> Result:
    await inv.reply(help_text(inv.c2.access.rank(inv.user_id)))
    return Result()


async def _unknown(inv: Invocation) -> Result:
    await inv.reply("Unknown command; see /help.")
    return Result("refused", "unknown command")


HELP = Command("help", Level.READ, "/help", "this list", _help)


def build_application(c2: C2) -> Application:
    token = require_token(c2)
    # Bad NOTIFY_URLS fail here too, before any I/O.
    channels = build_channels(c2.settings.notify)
    base = c2.settings.telegram.api_base_url.rstrip("/")
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .rate_limiter(FloodLimiter(c2.tuning.flood_overall, c2.tuning.flood_per_group))
        .build()
    )
    app.bot_data["c2"] = c2
    for cmd in [HELP, *ALL]:
        app.add_handler(CommandHandler(cmd.name, _callback(c2, cmd)))
    app.add_handler(CallbackQueryHandler(_on_button(c2), pattern=danger.PATTERN))
    app.add_handler(CallbackQueryHandler(_on_other_button(c2)))  # every press is audited

    async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = update.effective_message.text if update.effective_message else ""
        name = (text or "/?").split()[0].lstrip("/").split("@")[0][:32]
        await run(c2, name or "?", Level.READ, _unknown, update, (text or "").split()[1:])

    app.add_handler(MessageHandler(filters.COMMAND, unknown))
    app.add_error_handler(_on_error)
    _schedule(app, c2)
    _schedule_channels(app, c2, channels)
    return app


def _callback(c2: C2, cmd: Command):
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await run(c2, cmd.name, cmd.level, cmd.fn, update, list(context.args or []))

    return callback


def _on_button(c2: C2):
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await danger.on_button(c2, update, context)

    return callback


def _on_other_button(c2: C2):
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await danger.on_other_button(c2, update, context)

    return callback


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("update handling failed: %s", context.error, exc_info=context.error)


async def _post_init(app: Application, stop: asyncio.Event) -> bool:
    """Set up before the first poll; ``False`` when stopped while waiting for Redis."""
    channels = app.bot_data["channels"]

    async def groups() -> None:
        # Alerts raised from now on are ours even if the first scheduled read comes later.
        await app.bot_data["alerts"].ensure_group()
        for pump in channels:
            await pump.ensure_group()

    if not await _once_redis_answers(groups, stop):
        return False
    if channels:  # logged here: logging is configured after the Application is built
        log.info("notify channels: %s", ", ".join(p.channel.label for p in channels))
    await set_menus(app.bot, app.bot_data["c2"])
    return True


#: While Redis is away at start, how often the C2 tries again, and how often it says so.
REDIS_WAIT_SECONDS = 1.0
REDIS_WAIT_LOG_SECONDS = 60.0


async def _once_redis_answers(step: Callable[[], Awaitable[None]], stop: asyncio.Event) -> bool:
    """Run ``step``, waiting for Redis while it is away: a cluster engine starts the C2
    in no particular order, and exiting would only have it started again and again.
    ``False`` when ``stop`` was set meanwhile."""
    loop = asyncio.get_running_loop()
    said_at: float | None = None
    while True:
        try:
            await step()
        except Exception as exc:
            if unreachable(exc) != "Redis":
                raise
            if said_at is None or loop.time() - said_at >= REDIS_WAIT_LOG_SECONDS:
                said_at = loop.time()
                log.warning("Redis unreachable (%s); waiting for it to start", exc)
        else:
            if said_at is not None:
                log.info("Redis answers again; starting")
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REDIS_WAIT_SECONDS)
            log.warning("stopped while waiting for Redis")
            return False


#: Scopes that would show a menu to anyone; they stay empty.
BROAD_SCOPES = [
    BotCommandScopeDefault(),
    BotCommandScopeAllPrivateChats(),
    BotCommandScopeAllGroupChats(),
    BotCommandScopeAllChatAdministrators(),
]


async def set_menus(bot: Bot, c2: C2) -> None:
    """Each user sees the commands of their role, nobody else any: the broad scopes are
    emptied, admins and viewers get their list in their private chat and as members of
    each allowed group. (A user removed from the configuration keeps the menu Telegram
    last stored for them until it is deleted by hand; their commands are refused anyway.)"""
    menus = {
        Rank.ADMIN: [BotCommand(c.name, c.help[:256]) for c in [HELP, *ALL]],
        Rank.VIEWER: [
            BotCommand(c.name, c.help[:256]) for c in [HELP, *ALL] if c.level is Level.READ
        ],
    }
    for broad in BROAD_SCOPES:
        await _menu(bot.delete_my_commands(scope=broad), broad)
    for rank, users in ((Rank.ADMIN, c2.access.admins), (Rank.VIEWER, c2.access.viewers)):
        for user in sorted(users):
            scopes: list[BotCommandScope] = [BotCommandScopeChat(user)]
            scopes += [BotCommandScopeChatMember(g, user) for g in sorted(c2.access.allowed_chats)]
            for scope in scopes:
                await _menu(bot.set_my_commands(menus[rank], scope=scope), scope)


async def _menu(call: Awaitable[bool], scope: BotCommandScope) -> None:
    try:
        await call
    except TelegramError as exc:  # e.g. a user who never opened the chat: not fatal
        log.warning("command menu for %s not set: %s", scope.type, exc)


JobCallback = Callable[[ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def _job(name: str, work: JobCallback) -> JobCallback:
    """A repeating job that meets Redis or the database away says so in one warning, and
    in one line when it answers again, instead of a traceback every run (a Redis restart
    under the alerts job is five a second). Anything else still reaches the error
    handler with its traceback: it is a bug."""
    notice = OutageNotice(log, name, resumed=f"{name} resumed", retry="; tried again next run")

    async def callback(context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            await work(context)
        except Exception as exc:
            if notice.failed(exc) is None:
                raise
        else:
            notice.answered()

    return callback


def _schedule(app: Application, c2: C2) -> None:
    jobs = app.job_queue
    assert jobs is not None, "python-telegram-bot[job-queue] (APScheduler) is required"
    pump = AlertPump(c2, app.bot)
    monitor = Monitor(c2)
    app.bot_data["alerts"] = pump
    tuning = c2.tuning

    async def alerts(context: ContextTypes.DEFAULT_TYPE) -> None:
        await pump.poll_once()

    async def monitors(context: ContextTypes.DEFAULT_TYPE) -> None:
        await monitor.check()

    async def sweep(context: ContextTypes.DEFAULT_TYPE) -> None:
        await danger.sweep_expired(c2, context)

    async def summary(context: ContextTypes.DEFAULT_TYPE) -> None:
        await pump.send_to_admins(await daily_summary(c2))

    jobs.run_repeating(_job("alerts", alerts), tuning.alert_poll_seconds, name="alerts")
    jobs.run_repeating(
        _job("monitors", monitors), tuning.monitor_seconds, first=tuning.monitor_seconds
    )
    jobs.run_repeating(
        _job("expiry sweep", sweep), tuning.expiry_sweep_seconds, name="expiry-sweep"
    )
    hour, minute = (int(x) for x in c2.settings.telegram.daily_summary_utc.split(":"))
    jobs.run_daily(
        _job("daily summary", summary), time(hour, minute, tzinfo=UTC), name="daily-summary"
    )


def _schedule_channels(app: Application, c2: C2, channels: list[Channel]) -> None:
    """A job per notify-only channel (``telegram_c2/channels.py``), polled as often as
    the Telegram pump; each keeps its own place in the stream and its own backoff."""
    jobs = app.job_queue
    assert jobs is not None
    tuning = c2.tuning
    timing = Timing(tuning.alert_dedup_window, tuning.alert_retry_first, tuning.alert_retry_max)
    pumps = [
        ChannelPump(c2.redis.infra, channel, c2.settings.notify, timing, c2.clock)
        for channel in channels
    ]
    app.bot_data["channels"] = pumps
    for pump in pumps:

        async def deliver(context: ContextTypes.DEFAULT_TYPE, pump: ChannelPump = pump) -> None:
            await pump.poll_once()

        label = f"notify {pump.channel.label}"
        jobs.run_repeating(_job(label, deliver), tuning.alert_poll_seconds, name=label)


async def serve(app: Application, stop: asyncio.Event, poll_timeout: float) -> None:
    """Run until ``stop`` is set: long-poll updates, run the jobs, then shut down cleanly."""
    async with app:
        # Application.post_init only runs under run_polling(); we drive the loop ourselves.
        if not await _post_init(app, stop):
            return
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=timedelta(seconds=poll_timeout), drop_pending_updates=False
        )
        log.info("c2 running as @%s", app.bot.username)
        try:
            await stop.wait()
        finally:
            await app.updater.stop()
            await app.stop()
