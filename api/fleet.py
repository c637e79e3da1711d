"""``GET /api/v1/fleet`` and ``GET /api/v1/accounts``: the whole fleet, and each
account's positions against the exchange, in one request each.

The fleet page used to make one request for the registry and two per bot (positions,
today's P&L): past about 20 bots a refresh hit the per-token rate limit. Here the
registry, every open position, every bot's P&L of the day and the open drift are four
queries in one read-only transaction, and the bots' Redis states one round trip per
logical DB, whatever the number of bots.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from api.context import CONTEXT, ApiContext
from api.jsonio import reply
from api.queries import BOT_COLUMNS, decoded
from core import redis_keys
from core.ids import EXTERNAL_BOT, BotId


def _ctx(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


# The four reads of GET /fleet (bench/api_routes.py times them raw, too).
FLEET_BOTS = (
    f"SELECT {BOT_COLUMNS} FROM trading.bots"
    " WHERE status <> 'retired' AND bot_id <> %s ORDER BY bot_id"
)
#: Open positions only: a flat symbol says nothing on an overview.
FLEET_POSITIONS = (
    "SELECT bot_id, symbol, account, qty, avg_price FROM analytics.bot_positions"
    " WHERE qty <> 0 AND bot_id <> %s ORDER BY bot_id, symbol"
)
FLEET_PNL = "SELECT bot_id, net_pnl, fills FROM analytics.bot_daily_pnl WHERE day = %s"
FLEET_DRIFT = (
    "SELECT b.bot_id, d.symbol FROM trading.bots b JOIN trading.drift_events d"
    "   ON d.account = b.account AND d.symbol = ANY (b.symbols)"
    " WHERE d.cleared_at IS NULL ORDER BY b.bot_id, d.symbol"
)


async def fleet_rows(ctx: ApiContext, today: date) -> list[dict[str, Any]]:
    external = str(EXTERNAL_BOT)
    async with ctx.reader.transaction() as conn:
        bots = await (await conn.execute(FLEET_BOTS, (external,))).fetchall()
        positions = await (await conn.execute(FLEET_POSITIONS, (external,))).fetchall()
        pnl = await (await conn.execute(FLEET_PNL, (today,))).fetchall()
        drift = await (await conn.execute(FLEET_DRIFT)).fetchall()
    states = await _states(ctx, bots)
    by_bot: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in positions:
        bot_id = row.pop("bot_id")
        by_bot[bot_id].append(row)
    today_pnl = {row["bot_id"]: row for row in pnl}
    drifting: dict[str, list[str]] = defaultdict(list)
    for row in drift:
        drifting[row["bot_id"]].append(row["symbol"])
    now = datetime.now(UTC)
    fleet = []
    for bot in bots:
        bot_id = bot["bot_id"]
        beat = bot["last_heartbeat"]
        day = today_pnl.get(bot_id)
        fleet.append(
            {
                "bot_id": bot_id,
                "bot_code": bot["bot_code"],
                "bot_name": bot["bot_name"],
                "bot_type": bot["bot_type"],
                "status": bot["status"],
                "state": states.get(bot_id),
                "mode": bot["mode"],
                "account": bot["account"],
                "symbols": bot["symbols"],
                "positions": by_bot.get(bot_id, []),
                "pnl_today": day["net_pnl"] if day else None,
                "fills_today": day["fills"] if day else 0,
                "last_heartbeat": beat,
                "heartbeat_age_seconds": (
                    round((now - beat).total_seconds(), 3) if beat is not None else None
                ),
                "drift": drifting.get(bot_id, []),
            }
        )
    return fleet


async def _states(ctx: ApiContext, bots: list[dict[str, Any]]) -> dict[str, str | None]:
    """Each bot's Redis state: one round trip per logical DB (a pipeline of ``GET``\\ s,
    not ``MGET``: on a Redis Cluster one ``MGET`` may not span slots; the states are
    independent keys, read as a snapshot for a page, so nothing needs them atomic)."""
    per_db: dict[int | None, list[str]] = defaultdict(list)
    for bot in bots:
        per_db[bot["redis_db"]].append(bot["bot_id"])
    states: dict[str, str | None] = {}
    for number, ids in per_db.items():
        keys = [redis_keys.bot_state(BotId(i)) for i in ids]
        pipe = ctx.redis.db(number).pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
        values = await pipe.execute()
        for bot_id, value in zip(ids, values, strict=True):
            states[bot_id] = None if value is None else decoded(value)
    return states


async def get_fleet(request: web.Request) -> web.StreamResponse:
    today = datetime.now(UTC).date()
    return reply({"day": today, "bots": await fleet_rows(_ctx(request), today)})


async def account_rows(ctx: ApiContext) -> list[dict[str, Any]]:
    """Per account and symbol: each bot's quantity (``external`` included, apart), their
    sum, and what trade sync last saw on the exchange.

    Trade sync stores the exchange's quantity only when the two disagree (an open
    ``trading.drift_events`` row); otherwise its last ``position_drift`` run found them
    equal, and ``checked_at`` says when."""
    external = str(EXTERNAL_BOT)
    async with ctx.reader.transaction() as conn:
        positions = await (
            await conn.execute(
                "SELECT account, symbol, bot_id, qty FROM analytics.bot_positions"
                " ORDER BY account, symbol, bot_id"
            )
        ).fetchall()
        drift = await (
            await conn.execute(
                "SELECT account, symbol, exchange_qty, ledger_qty, detected_at, last_seen_at"
                " FROM trading.drift_events WHERE cleared_at IS NULL"
            )
        ).fetchall()
        checks = await (
            await conn.execute(
                "SELECT account, max(finished_at) AS checked_at FROM trading.sync_runs"
                " WHERE job = 'position_drift' AND status <> 'error' GROUP BY account"
            )
        ).fetchall()
    checked = {row["account"]: row["checked_at"] for row in checks}
    open_drift = {(row["account"], row["symbol"]): row for row in drift}
    grouped: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    for row in positions:
        grouped[(row["account"], row["symbol"])][row["bot_id"]] = row["qty"]
    for key in open_drift:
        grouped.setdefault(key, {})
    rows = []
    for (account, symbol), per_bot in sorted(grouped.items()):
        bots_qty = sum((q for b, q in per_bot.items() if b != external), Decimal(0))
        ext = per_bot.get(external, Decimal(0))
        flat = all(q == 0 for q in per_bot.values())
        if flat and (account, symbol) not in open_drift:
            continue  # flat everywhere and no drift: nothing to compare
        found = open_drift.get((account, symbol))
        rows.append(
            {
                "account": account,
                "symbol": symbol,
                "bots": [
                    {"bot_id": b, "qty": q} for b, q in per_bot.items() if b != external and q != 0
                ],
                "bots_qty": bots_qty,
                "external_qty": ext,
                "exchange_qty": found["exchange_qty"] if found else None,
                "drift": found is not None,
                "drift_since": found["detected_at"] if found else None,
                "checked_at": found["last_seen_at"] if found else checked.get(account),
            }
        )
    return rows


async def get_accounts(request: web.Request) -> web.StreamResponse:
    return reply({"positions": await account_rows(_ctx(request))})
