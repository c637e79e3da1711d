"""What the verification reads from the running stack, into ``checks.Observations``."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from typing import Any

from deploy.rehearsal.stack import DOCKER, Stack

_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 10**3, "MB": 10**6, "GB": 10**9}
_AMOUNT = re.compile(r"([\d.]+)\s*([A-Za-z]+)")


def _bytes(text: str) -> int:
    match = _AMOUNT.fullmatch(text.strip())
    return int(float(match.group(1)) * _UNITS.get(match.group(2), 1)) if match else 0


class MemorySampler:
    """`docker stats` every few seconds; keeps each service's peak and its limit."""

    def __init__(self, stack: Stack, every: float = 5.0) -> None:
        self.peaks: dict[str, tuple[int, int]] = {}
        self._project, self._every = stack.project, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._every)

    def sample(self) -> None:
        try:
            out = subprocess.run(
                [DOCKER, "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"],
                capture_output=True, text=True, timeout=60, check=False,
            ).stdout  # fmt: skip
        except subprocess.TimeoutExpired:
            return
        prefix = f"{self._project}-"
        for line in out.splitlines():
            name, _, usage = line.partition("\t")
            if not name.startswith(prefix) or "/" not in usage:
                continue
            service = name[len(prefix) :].rsplit("-", 1)[0]
            used, limit = (_bytes(part) for part in usage.split("/", 1))
            peak = max(used, self.peaks.get(service, (0, 0))[0])
            self.peaks[service] = (peak, limit)

    def close(self) -> dict[str, tuple[int, int]]:
        self._stop.set()
        self._thread.join(timeout=70)
        return dict(self.peaks)


def paper(stack: Stack, path: str, body: dict[str, Any] | None = None) -> Any:
    """The paper exchange's control API, reachable only inside its own container."""
    args = [f"http://127.0.0.1:8480{path}"] + ([json.dumps(body)] if body is not None else [])
    return json.loads(stack.python("paper_exchange", "http.py", *args))


#: A timestamptz as ISO 8601 in UTC (``datetime.fromisoformat`` reads it).
_ISO = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"


def fills(stack: Stack) -> list[dict[str, Any]]:
    # With each fill, when its order was placed (market time), for the risk limits check.
    rows = stack.psql(
        "SELECT f.account, f.exec_id, f.bot_id, f.symbol, f.side, f.exec_qty,"
        " coalesce(f.reason, ''), extract(epoch FROM f.ingested_at), f.category, f.exec_price,"
        " f.exec_fee, f.fee_currency, f.exec_type, " + _ISO.format("f.exec_time") + ", f.seq,"
        " coalesce(" + _ISO.format("o.created_time") + ", ''), coalesce(f.attribution, '')"
        " FROM trading.fills f LEFT JOIN trading.orders o"
        " ON o.exchange = f.exchange AND o.order_id = f.order_id"
        " ORDER BY f.exec_time, f.seq, f.exec_id, f.bot_id"
    )
    keys = ("account", "exec_id", "bot_id", "symbol", "side", "exec_qty", "reason",
            "ingested_epoch", "category", "exec_price", "exec_fee", "fee_currency",
            "exec_type", "exec_time", "seq", "order_created", "attribution")  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]


def funding(stack: Stack) -> list[dict[str, Any]]:
    rows = stack.psql(
        "SELECT account, exec_id, bot_id, funding_fee,"
        " " + _ISO.format("exec_time") + ","
        " extract(epoch FROM ingested_at) FROM trading.funding"
    )
    keys = ("account", "exec_id", "bot_id", "funding_fee", "exec_time", "ingested_epoch")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def bots(stack: Stack) -> list[dict[str, Any]]:
    rows = stack.psql(
        "SELECT json_build_object('bot_id', bot_id, 'bot_code', bot_code, 'account', account,"
        " 'bot_type', bot_type,"
        " 'redis_db', redis_db, 'symbols', symbols, 'config', config, 'status', status,"
        " 'initial_capital', initial_capital::text)"
        " FROM trading.bots ORDER BY bot_id"
    )
    return [json.loads(row[0]) for row in rows]


def drift_events(stack: Stack) -> list[dict[str, Any]]:
    rows = stack.psql(
        "SELECT account, symbol, extract(epoch FROM detected_at),"
        " coalesce(extract(epoch FROM cleared_at)::text, '') FROM trading.drift_events"
    )
    return [
        {"account": a, "symbol": s, "detected": float(d), "cleared": float(c) if c else None}
        for a, s, d, c in rows
    ]


def backup(stack: Stack) -> dict[str, Any]:
    rows = stack.psql(
        "SELECT status, verified_at IS NOT NULL, coalesce(size_bytes, 0), coalesce(error, '')"
        " FROM trading.backups ORDER BY id DESC LIMIT 1"
    )
    if not rows:
        return {}
    status, verified, size, error = rows[0]
    return {"status": status, "verified": verified == "t", "size_bytes": int(size), "error": error}


def prometheus_targets(stack: Stack) -> list[tuple[str, str]]:
    out = stack.exec("prometheus", "wget", "-q", "-O", "-", "http://127.0.0.1:9090/api/v1/targets")
    active = json.loads(out)["data"]["activeTargets"]
    return [(t["labels"].get("instance", "?"), t["health"]) for t in active]


#: What the collector stored: closed bars per (symbol, interval) of the paper exchange,
#: and how many of them had not closed by the exchange's clock (must be none). Run as is
#: by tests/deploy/test_rehearsal_checks.py against a real database.
CANDLES_SQL = """
SELECT symbol, interval, count(*),
       count(*) FILTER (WHERE open_time + make_interval(mins => interval::int) > %(now)s)
  FROM market.candles
 WHERE exchange = 'paper' AND interval ~ '^[0-9]+$'
 GROUP BY symbol, interval
 ORDER BY symbol, interval
"""


def candle_counts(rows: list[list[str]]) -> dict[tuple[str, str], tuple[int, int]]:
    """``CANDLES_SQL``'s rows (as psql prints them) → {(symbol, interval): (bars, open)}."""
    return {(sym, interval): (int(n), int(early)) for sym, interval, n, early in rows}


def stored_candles(stack: Stack, now_ms: int) -> dict[tuple[str, str], tuple[int, int]]:
    """The collector's bars; ``now_ms`` is the paper exchange's clock."""
    now = f"to_timestamp({int(now_ms) / 1000})"
    return candle_counts(stack.psql(CANDLES_SQL.replace("%(now)s", now)))


def redis_positions(stack: Stack, dbs: list[int]) -> dict[str, dict[str, str]]:
    return json.loads(stack.python("websocket_listener", "redis_positions.py", *map(str, dbs)))


def universe(stack: Stack, service: str) -> dict[str, Any]:
    """The universe a bot with a dynamic one published (``probes/universe.py``)."""
    return dict(json.loads(stack.python(service, "universe.py")))


#: A container's own memory cgroup, seen from inside it: cgroup v2, then v1.
_CGROUP_STAT = "cat /sys/fs/cgroup/memory.stat 2>/dev/null || cat /sys/fs/cgroup/memory/memory.stat"


def charged_memory(memory_stat: str) -> tuple[int, int]:
    """(anonymous, file pages) in bytes from a cgroup's ``memory.stat``: what the kernel
    charges the container, each page once (v2 ``anon``/``file``, v1 ``rss``/``cache``)."""
    stat = dict(line.split() for line in memory_stat.splitlines() if line.count(" ") == 1)
    anon = stat.get("anon", stat.get("rss"))
    files = stat.get("file", stat.get("cache"))
    if anon is None or files is None:
        raise ValueError("memory.stat without anon/file (v2) or rss/cache (v1)")
    return int(anon), int(files)


def containers_memory(stack: Stack, services: list[str]) -> dict[str, tuple[int, int]]:
    """Each service's container: (anonymous, file pages) its memory cgroup is charged."""
    return {svc: charged_memory(stack.exec(svc, "sh", "-c", _CGROUP_STAT)) for svc in services}


def spool_files(stack: Stack) -> int:
    out = stack.exec("websocket_listener", "python", "-c",
                     "import os; print(len(os.listdir('/app/.run/spool')))")  # fmt: skip
    return int(out.strip())


def wait_quiet(stack: Stack, settle: float = 20, longest: float = 240) -> int:
    """Waits until the ledger has stopped growing for ``settle`` seconds."""
    deadline = time.monotonic() + longest
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = int(stack.psql("SELECT count(*) FROM trading.fills")[0][0])
        if count != last:
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
        time.sleep(3)
    return last


def strategy_defaults(row: dict[str, Any]) -> dict[str, Any]:
    """What registration stores for this bot when nothing but its symbols is given."""
    from core import plugins

    base = {"symbols": row["symbols"], "exclusive": bool(row["config"].get("exclusive"))}
    return dict(plugins.validate_registration(row["bot_type"], base))


def new_fills_since(stack: Stack, since: float) -> bool:
    rows = stack.psql(
        f"SELECT count(*) FROM trading.fills WHERE ingested_at > to_timestamp({since})"
    )
    return int(rows[0][0]) > 0


#: What the host logs when a bot without an allocation takes its account's equity
#: (bots/runtime/capital.py); the JSON log line carries it in its message.
_CAPITAL_LINE = re.compile(r"bot (\S+): capital (-?[0-9][0-9.E+-]*) \(account equity")


def capital(stack: Stack, rows: list[dict[str, Any]], services: list[str]) -> dict[str, str]:
    """The capital each bot's host sized and limited on: its allocation, or else the first
    capital its host logged from the wallet at start (bots/runtime/capital.py keeps it in
    memory only; a later restart recomputes it from the wallet less the bot's own P&L)."""
    out = {row["bot_id"]: str(row["initial_capital"]) for row in rows
           if row.get("initial_capital") is not None}  # fmt: skip
    logs = stack.compose("logs", "--no-color", "--no-log-prefix", *services, timeout=120)
    for bot_id, amount in _CAPITAL_LINE.findall(logs):
        out.setdefault(bot_id, amount)
    return out


def risk(stack: Stack, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``risk_halt``/``risk_lift`` alerts, the bots' ``order_rejected`` notifications and
    each bot's ``bot:{id}:risk`` anchors (probes/risk.py, as the C2's Redis user)."""
    pairs = [f"{row['bot_id']}:{0 if row.get('redis_db') is None else int(row['redis_db'])}"
             for row in rows if row["bot_id"] != "external"]  # fmt: skip
    return dict(json.loads(stack.python("telegram_c2", "risk.py", *pairs)))
