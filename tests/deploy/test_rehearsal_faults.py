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


class SecondListener:
    """``docker compose run`` of a second listener, answering ``exit_status``; the
    running listener's restart count moves by ``restarted``."""

    def __init__(self, exit_status: int, restarted: int = 0) -> None:
        self.exit_status, self.restarted, self.asked = exit_status, restarted, 0

    def compose(self, *args: str, **_: Any) -> str:
        assert args[:3] == ("run", "--rm", "--no-deps")
        if self.exit_status:
            raise StackError(
                "docker compose -p alpha … exited 73: alpha: error: the listener is already"
                " running (abc123:7 holds its lease and keeps renewing it); stop that process"
                " first",
                self.exit_status,
            )
        return ""

    def inspect(self, service: str) -> dict[str, Any]:
        self.asked += 1
        return {"RestartCount": self.restarted if self.asked > 1 else 0}

    def state(self, service: str) -> tuple[str, str]:
        return "running", "healthy"


@pytest.mark.parametrize(
    ("stand_in", "outcome"),
    [
        (SecondListener(faults.LEASE_HELD), "exited 73 after"),
        (SecondListener(0), "ran beside the first"),
        (SecondListener(1), "did not exit 73"),
        (SecondListener(faults.LEASE_HELD, restarted=1), "was restarted meanwhile"),
    ],
)
def test_a_second_listener_must_be_refused_and_leave_the_first_alone(
    stand_in: SecondListener, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(faults.time, "sleep", lambda _: None)
    fault = faults.second_listener(stand_in, ["websocket_listener"],  # type: ignore[arg-type]
                                   advancing=lambda since: True)  # fmt: skip
    if outcome.startswith("exited"):
        assert fault.recovered_after is not None and not fault.detail
        assert outcome in fault.notes[0] and "already running" in fault.notes[0]
    else:
        assert fault.recovered_after is None and outcome in fault.detail


class RestartsAlongside:
    """``docker compose restart SERVICE`` after which ``crashes`` (another service) has
    been restarted by its policy: it died of the fault and came back healthy."""

    def __init__(self, crashes: str | None) -> None:
        self.crashes, self.restarted = crashes, False

    def compose(self, *args: str, **_: Any) -> str:
        assert args[0] == "restart"
        self.restarted = True
        return ""

    def inspect(self, service: str) -> dict[str, Any]:
        return {"RestartCount": 1 if self.restarted and service == self.crashes else 0}

    def state(self, service: str) -> tuple[str, str]:
        return "running", "healthy"


@pytest.mark.parametrize("crashes", [None, "redis", "shortseller_001"])
def test_a_service_that_died_of_another_s_restart_fails_the_fault(
    crashes: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: only health and new fills were asked, and a bot that crashed with a
    traceback on a Redis restart passed once Docker had brought it back."""
    monkeypatch.setattr(faults.time, "sleep", lambda _: None)
    services = ["redis", "shortseller_001", "websocket_listener"]
    fault = faults.restart(RestartsAlongside(crashes), "redis", services,  # type: ignore[arg-type]
                           advancing=lambda since: True)  # fmt: skip
    if crashes == "shortseller_001":
        assert fault.recovered_after is None
        assert fault.detail == "crashed and restarted by Docker meanwhile: shortseller_001 (0 -> 1)"
    else:  # none, or the restarted service itself
        assert fault.recovered_after is not None and not fault.detail
