"""A private PostgreSQL cluster, for machines where none answers at the configured address.

It listens on loopback only, with ``trust`` authentication for its bootstrap superuser:
it is a development and test instance, never a production one. initdb and postgres
refuse to run as root, so as root they run as an unprivileged user owning the data.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.errors import UserError
from devenv.ports import wait_until
from devenv.system import hand_over, require_binary, run_as, service_user


@dataclass
class PrivatePostgres:
    run_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def logfile(self) -> Path:
        return self.run_dir / "postgres.log"

    def answers(self) -> bool:
        try:
            psycopg.connect(
                host=self.host, port=self.port, user=self.user, dbname="postgres", connect_timeout=2
            ).close()
            return True
        except psycopg.OperationalError:
            return False

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            cwd=self.run_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            **run_as(service_user()),
        )

    def start(self) -> None:
        initdb, pg_ctl = require_binary("initdb"), require_binary("pg_ctl")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)
        hand_over(self.run_dir, service_user())
        if not (self.data_dir / "PG_VERSION").exists():
            result = self._run(
                [initdb, "-D", str(self.data_dir), "-U", self.user, "-E", "UTF8",
                 "--auth-local=trust", "--auth-host=trust", "--no-sync"]
            )  # fmt: skip
            if result.returncode != 0:
                raise UserError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.run_dir} "
            "-c fsync=off -c max_connections=200"
        )
        result = self._run(
            [
                pg_ctl,
                "-D",
                str(self.data_dir),
                "-l",
                str(self.logfile),
                "-o",
                options,
                "-w",
                "start",
            ]
        )
        if result.returncode != 0 or not wait_until(self.answers, timeout=30):
            raise UserError(f"postgres did not start on {self.host}:{self.port}: {result.stderr}")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run([require_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"])
