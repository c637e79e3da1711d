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


def fills(stack: Stack) -> list[dict[str, Any]]:
    rows = stack.psql(
        "SELECT account, exec_id, bot_id, symbol, side, exec_qty, coalesce(reason, ''),"
        " extract(epoch FROM ingested_at), coalesce(attribution, '') FROM trading.fills"
        " ORDER BY exec_time, seq, exec_id"
    )
    keys = ("account", "exec_id", "bot_id", "symbol", "side", "exec_qty", "reason",
            "ingested_epoch", "attribution")  # fmt: skip
    return [dict(zip(keys, row, strict=True)) for row in rows]


def funding(stack: Stack) -> list[dict[str, Any]]:
    rows = stack.psql("SELECT account, exec_id, bot_id FROM trading.funding")
    return [dict(zip(("account", "exec_id", "bot_id"), row, strict=True)) for row in rows]


def bots(stack: Stack) -> list[dict[str, Any]]:
    rows = stack.psql(
        "SELECT json_build_object('bot_id', bot_id, 'bot_code', bot_code, 'account', account,"
        " 'bot_type', bot_type,"
        " 'redis_db', redis_db, 'symbols', symbols, 'config', config, 'status', status)"
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


def redis_positions(stack: Stack, dbs: list[int]) -> dict[str, dict[str, str]]:
    return json.loads(stack.python("websocket_listener", "redis_positions.py", *map(str, dbs)))


def universe(stack: Stack, service: str) -> dict[str, Any]:
    """The universe a bot with a dynamic one published (``probes/universe.py``)."""
    return dict(json.loads(stack.python(service, "universe.py")))


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
