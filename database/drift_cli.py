"""``alpha drift ack BOT|ACCOUNT``: let bots enter again despite open drift, as it is now.

The same code as the C2's ``/ackdrift`` (core/operator/drift_ack.py), as the owner role
on a direct connection like the registry's verbs; audited in ``trading.bot_commands``
(channel ``cli``) in the transaction of the acknowledgement.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass

from core.config import Role, Settings, load_settings
from core.db import async_connect
from core.errors import UserError
from core.operator import drift_ack
from core.operator.audit import AuditEntry, insert_entry


def ack(args: argparse.Namespace) -> int:
    return asyncio.run(_ack(load_settings(), args.target, args.reason, yes=args.yes))


async def _ack(settings: Settings, target: str, reason: str | None, *, yes: bool) -> int:
    by = f"cli:{getpass.getuser()}"
    conn = await async_connect(settings, Role.OWNER, direct=True, application_name="alpha-cli")
    try:
        async with conn.transaction():
            scope = await drift_ack.scope_of(conn, target)
            waiting = await drift_ack.unacknowledged(conn, scope)
            if not waiting:
                print(f"no unacknowledged open drift on {scope.describe()}; nothing to do")
                return 0
            if not yes:
                lines = "\n".join(f"  {d.describe()}" for d in waiting)
                raise UserError(
                    f"{len(waiting)} open drift(s) on {scope.describe()}:\n{lines}\n"
                    "acknowledging lets bots enter there again while these quantities stand:"
                    " repeat with --yes"
                )
            done = await drift_ack.acknowledge(conn, scope, by, reason)
            detail = f"acknowledged {drift_ack.describe(done)}" + (
                f" ({reason.strip()})" if reason and reason.strip() else ""
            )
            await insert_entry(
                conn,
                AuditEntry(
                    command="drift ack",
                    outcome="accepted",
                    username=by,
                    args=(target,),
                    bot_id=scope.bot_id,
                    detail=detail,
                    channel="cli",
                ),
            )
    finally:
        await conn.close()
    for d in done:
        print(f"acknowledged: {d.describe()}")
    print("bots enter there again; a drift that changes or a new one holds them again")
    return 0
