"""Running pg_dump, pg_dumpall and pg_restore: passwords by environment, progress by table.

The password goes in ``PGPASSWORD`` of the child's environment, never on its command
line (``ps`` shows command lines to every user). ``--verbose`` output is parsed into a
progress bar over tables (tqdm on a terminal, silent otherwise); the last lines of
stderr are kept for the error message when the tool fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import deque
from collections.abc import Sequence

from tqdm import tqdm

from core import db
from core.config import Role, Settings
from core.errors import UserError

#: pg_dump: "dumping contents of table "trading.fills""; pg_restore: "processing data for
#: table "trading.fills"" — one line per table's data, which is what takes the time.
_TABLE_LINE = re.compile(r'(?:dumping contents of|processing data for) table "([^"]+)"')


class ToolFailed(UserError):
    """A PostgreSQL client tool exited non-zero; the message carries its last lines."""


def binary(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
    )
    if path is None:
        raise ToolFailed(f"{name} not found on PATH (install the PostgreSQL client tools)")
    return path


def connection_args(
    settings: Settings, role: Role | None, dbname: str | None
) -> tuple[list[str], dict[str, str]]:
    """``-h -p -U -d`` for a direct connection (never PgBouncer), and the env with the password."""
    user, password = db.credentials(settings, role)
    args = ["-h", settings.postgres.host, "-p", str(settings.postgres.port), "-U", user]
    if dbname is not None:
        args += ["-d", dbname]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGAPPNAME"] = "alpha-backup"
    env["PGCONNECT_TIMEOUT"] = str(db.CONNECT_TIMEOUT)
    if password:
        env["PGPASSWORD"] = password
    return args, env


def capture(argv: Sequence[str], env: dict[str, str]) -> str:
    """A tool's standard output (``pg_restore --list``); ToolFailed on failure."""
    done = subprocess.run(list(argv), env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        detail = " ".join(done.stderr.split())[:300] or f"exit status {done.returncode}"
        raise ToolFailed(f"{argv[0].rsplit('/', 1)[-1]} failed: {detail}")
    return done.stdout


def run(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    what: str,
    tables: int | None = None,
    progress: bool | None = None,
) -> None:
    """Run a tool to completion, showing per-table progress; raise ToolFailed on failure.

    ``progress=None`` shows the bar only on a terminal.
    """
    tail: deque[str] = deque(maxlen=8)
    bar = tqdm(
        total=tables,
        desc=what,
        unit="table",
        disable=progress is False if progress is not None else None,
        leave=False,
    )
    proc = subprocess.Popen(
        list(argv), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            line = line.rstrip()
            match = _TABLE_LINE.search(line)
            if match:
                bar.set_postfix_str(match.group(1), refresh=False)
                bar.update(1)
            elif not line.startswith(("pg_dump: ", "pg_restore: ")) or "error" in line.lower():
                tail.append(line)
            if "error" in line.lower():
                tail.append(line)
    finally:
        code = proc.wait()
        bar.close()
    if code != 0:
        detail = " | ".join(dict.fromkeys(tail)) or f"exit status {code}"
        raise ToolFailed(f"{what} failed: {detail}")
