"""System binaries, the unprivileged user servers run as, and package installation."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

from core.errors import UserError

#: Debian package that provides each binary.
PACKAGES = {
    "pgbouncer": "pgbouncer",
    "redis-server": "redis-server",
    "initdb": "postgresql",
    "pg_ctl": "postgresql",
    "pg_dump": "postgresql-client",
    "pg_restore": "postgresql-client",
}

#: Who runs PgBouncer (which refuses root) and a private PostgreSQL (which refuses too).
UNPRIVILEGED_USERS = ("postgres", "nobody")


def is_root() -> bool:
    return os.geteuid() == 0


def find_binary(name: str) -> str | None:
    """A binary on PATH, in PostgreSQL's versioned bindir, or in /usr/sbin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    candidates += [f"/usr/sbin/{name}", f"/usr/local/sbin/{name}"]
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def require_binary(name: str, *, install: bool = True) -> str:
    """The binary's path; as root, ``apt-get install -y`` its package when missing."""
    found = find_binary(name)
    if found:
        return found
    package = PACKAGES.get(name, name)
    if install and is_root() and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        args = ["apt-get", "install", "-y", package]
        quiet: dict[str, Any] = {
            "env": env,
            "capture_output": True,
            "check": False,
            "stdin": subprocess.DEVNULL,
        }
        if subprocess.run(args, **quiet).returncode != 0:
            # A stale package list is the usual cause on a fresh machine: refresh once.
            subprocess.run(["apt-get", "update"], **quiet)
            subprocess.run(args, **quiet)
        found = find_binary(name)
        if found:
            return found
    raise UserError(f"{name} not found; install it (Debian: apt-get install -y {package})")


def service_user() -> pwd.struct_passwd | None:
    """The user to drop to when running as root; ``None`` when already unprivileged."""
    if not is_root():
        return None
    for name in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise UserError("running as root and no unprivileged user (postgres or nobody) exists")


def hand_over(path: Path, user: pwd.struct_passwd | None) -> None:
    """Make ``path`` (a directory, recursively) owned by the user a server runs as."""
    if user is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)


def run_as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """``subprocess`` keyword arguments that drop to ``user`` (and its group only)."""
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def reachable(path: Path, user: pwd.struct_passwd | None) -> None:
    """Refuse early (one clear line) when ``user`` cannot reach ``path``'s parents."""
    if user is None:
        return
    for parent in path.resolve().parents:
        mode = parent.stat()
        owner_ok = mode.st_uid == user.pw_uid and mode.st_mode & 0o100
        if not (owner_ok or mode.st_mode & 0o001):
            raise UserError(
                f"{user.pw_name} (who runs the server) cannot enter {parent}: "
                f"chmod o+x {parent}, or choose another --run-dir"
            )
