"""/drift: open position drifts found by trade sync (docs/ledger.md invariant 5)."""

from __future__ import annotations

from telegram_c2 import fmt
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result


async def drift(inv: Invocation) -> Result:
    rows = await inv.c2.ops.open_drift()
    sync = await inv.c2.ops.last_sync()
    lines = [
        f"• {r['account']} {r['symbol']}: exchange {fmt.qty(r['exchange_qty'])}, "
        f"bots {fmt.qty(r['ledger_qty'])} (since {fmt.when(r['detected_at'])})"
        + (f"; acknowledged by {r['acked_by']}, entries allowed" if r.get("acked_by") else "")
        for r in rows
    ]
    head = "No open drift." if not rows else f"{len(rows)} open drift(s):"
    tail = (
        f"Last sync: {sync['job']} {sync['status']} at {fmt.when(sync['finished_at'])}"
        if sync
        else "Last sync: never"
    )
    await inv.reply("\n".join([head, *lines, tail]))
    return Result()


COMMANDS = [Command("drift", Level.READ, "/drift", "open drift between bots and exchange", drift)]
