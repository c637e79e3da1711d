"""The rehearsal's kill -9 of the listener, against what Docker answers when the
container dies before the exec that killed its process has returned.

Docker itself is exercised by the rehearsal (``scripts/rehearse``); here a stand-in
answers exactly as ``docker compose exec`` did in a CI run that lost the race."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.rehearsal import faults
from deploy.rehearsal.stack import StackError


class Listener:
    """``docker compose`` as it behaves for the listener's container: ``exec`` of the
    kill script ends the process (restart count + 1) and answers ``exit_status``."""

    def __init__(self, exit_status: int) -> None:
        self.exit_status, self.restarts = exit_status, 0

    def exec(self, service: str, *args: str, **_: Any) -> str:
        self.restarts += 1
        if self.exit_status:
            raise StackError(f"docker compose exec -T {service} … exited {self.exit_status}: ",
                             self.exit_status)  # fmt: skip
        return ""

    def inspect(self, service: str) -> dict[str, Any]:
        return {"RestartCount": self.restarts,
                "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}}}  # fmt: skip

    def state(self, service: str) -> tuple[str, str]:
        return "running", "healthy"


@pytest.mark.parametrize("exit_status", [0, faults.KILLED])
def test_the_crash_counts_whether_or_not_the_exec_outlived_the_container(
    exit_status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults.time, "sleep", lambda _: None)
    fault = faults.crash_listener(Listener(exit_status), ["websocket_listener"],  # type: ignore[arg-type]
                                  advancing=lambda since: True)  # fmt: skip
    assert fault.recovered_after is not None and not fault.detail


def test_an_exec_that_failed_otherwise_is_still_an_error() -> None:
    with pytest.raises(StackError, match="exited 1"):
        faults.crash_listener(Listener(1), ["websocket_listener"],  # type: ignore[arg-type]
                              advancing=lambda since: True)  # fmt: skip
