"""/backup: ask the backup service for one (a request on its stream) and show the last."""

from __future__ import annotations

from core.operator.backup import new_request_id, request_backup
from telegram_c2 import fmt
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result


async def backup(inv: Invocation) -> Result:
    last = await inv.c2.ops.last_backup()
    request_id = new_request_id()
    async with inv.effect(f"request {request_id}"):
        await request_backup(inv.c2.redis.infra, request_id, inv.requested_by, inv.c2.clock())
    if last:
        size = f", {last['size_bytes']:,} bytes" if last["size_bytes"] else ""
        error = f", error: {last['error']}" if last["error"] else ""
        previous = (
            f"Last backup #{last['id']}: {last['status']} ({last['kind']}), started "
            f"{fmt.when(last['started_at'])}{size}{error}"
        )
    else:
        previous = "No backup recorded yet."
    await inv.reply(f"Backup requested ({request_id}).\n{previous}")
    return Result(detail=f"request {request_id}")


COMMANDS = [Command("backup", Level.WRITE, "/backup", "start a backup; show the last", backup)]
