"""One running process per role: a lease in Redis, taken at start and renewed.

Some processes must never run twice: two processes trading under one bot id double every
entry (``bot:{id}:lease``), and two listeners each fold only the fills they inserted and
overwrite each other's positions in Redis (``listener:lease``). A cluster engine can
start a second one while the first still runs: a network partition hides a live task
from the manager, which starts a replacement elsewhere. So such a process first takes
its key with ``SET NX PX``, holding a token that names its host and pid, and a daemon
thread renews it every third of its time to live. Renewal and release are
compare-and-set scripts, so a process never extends or deletes a lease it no longer
holds.

When the lease is held by someone else at start:

* held by an earlier process of *this* host that is gone (its pid is ours — a container
  restarted with the same pid — or no longer exists): that process died without
  releasing (``kill -9``), so the lease is taken over at once;
* otherwise we wait, at most one time-to-live, for it to expire: a holder that died on
  another host (a recreated container has a new hostname) stops renewing, and the lease
  lapses within that time. A holder that keeps renewing is alive: we refuse to start
  with :class:`LeaseHeld` (its own exit code, so a supervisor can tell it from a crash).

If renewal finds the lease gone to another holder, the process is no longer the only
one: ``on_lost`` is called (the service stops; whoever holds the lease now goes on).
A call that gets no answer within a third of the lease counts as Redis out of reach:
the services' clients have no read timeout (a bot blocks on its streams), and a Redis
that is frozen, or a partition that drops packets, would otherwise hold a renewal for as
long as TCP takes to give up, while the lease lapses and another process takes it.
When Redis cannot be reached for longer than the lease lives, another process may have
taken it meanwhile: a bot stops then (``lost_when_unreachable``), while the listener
goes on writing the ledger, which cannot take an execution twice, and asks again once
Redis answers (its positions live in Redis, so it cannot harm them while it cannot
reach it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from core.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 15.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_STEAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


class LeaseHeld(UserError):
    """Another live process holds the lease."""

    exit_code = 73  # EX_CANTCREAT: "cannot create" the single instance


class LeaseLost(UserError):
    """The process stopped because it can no longer prove it is the only one."""

    exit_code = 74


def new_token() -> str:
    """``host:pid:random``: names one process instance (a lease's or the ledger's holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _holder_is_gone(holder: str) -> bool:
    """True when ``holder`` names a process of this host that cannot be alive."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # an earlier incarnation in a restarted container: not us
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by another user
    return False


class Lease:
    """``acquire()`` once, then it renews itself until ``release()``.

    ``who`` names the holder in messages ("bot b1", "the listener")."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        who: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        on_lost: Callable[[str], None] | None = None,
        lost_when_unreachable: bool = True,
    ) -> None:
        self.redis = client
        self.key = key
        self.who = who
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = new_token()
        self.on_lost = on_lost
        self.lost_when_unreachable = lost_when_unreachable
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: The call still waiting for Redis's answer, if one is.
        self._pending: threading.Thread | None = None

    def _call(
        self, command: Callable[..., Any], *args: Any, stoppable: bool = False, **kwargs: Any
    ) -> Any:
        """``command(*args, **kwargs)``, or :class:`redis.TimeoutError` when Redis has not
        answered within a third of the lease. The call goes on in a daemon thread (a
        client cannot cancel it); while it waits, the next one fails at once rather than
        add a thread. ``stoppable``: :meth:`release` ends the wait too (a renewal must
        not hold the holder's exit up for seconds on a Redis that does not answer)."""
        if self._pending is not None and self._pending.is_alive():
            raise redis.TimeoutError("Redis has not answered the previous call yet")
        answer: list[Any] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                answer.append(command(*args, **kwargs))
            except BaseException as exc:  # handed to the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=run, name="lease-call", daemon=True)
        thread.start()
        deadline = time.monotonic() + self.ttl_ms / 3000
        while thread.is_alive() and (left := deadline - time.monotonic()) > 0:
            if stoppable and self._stop.is_set():
                break
            thread.join(min(left, 0.1) if stoppable else left)
        if thread.is_alive():
            self._pending = thread
            raise redis.TimeoutError(f"no answer from Redis within {self.ttl_ms / 3000:g} s")
        if failure:
            raise failure[0]
        return answer[0]

    def acquire(self) -> None:
        deadline = time.monotonic() + self.ttl_ms / 1000 + 1
        while True:
            if self._call(self.redis.set, self.key, self.token, nx=True, px=self.ttl_ms):
                break
            holder = self._call(self.redis.get, self.key)
            if holder is None:
                continue  # expired between the two calls
            holder = holder.decode() if isinstance(holder, bytes) else str(holder)
            if _holder_is_gone(holder) and self._call(
                self.redis.eval, _STEAL, 1, self.key, holder, self.token, str(self.ttl_ms)
            ):
                log.warning("%s: took over the lease of dead process %s", self.who, holder)
                break
            if time.monotonic() >= deadline:
                raise LeaseHeld(
                    f"{self.who} is already running ({holder.rsplit(':', 1)[0]} holds"
                    f" its lease and keeps renewing it); stop that process first"
                )
            time.sleep(0.2)
        log.info("%s: lease taken (%s)", self.who, self.token)
        self._thread = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        every = self.ttl_ms / 3000
        last_renewed = time.monotonic()
        unreachable_said = False
        while not self._stop.wait(every):
            try:
                renewed = self._call(
                    self.redis.eval, _RENEW, 1, self.key, self.token, str(self.ttl_ms),
                    stoppable=True,
                )  # fmt: skip
                if not renewed:
                    # Gone: Redis restarted without the key, it expired while Redis was
                    # out of reach, or someone else took it.
                    renewed = self._call(
                        self.redis.set, self.key, self.token, nx=True, px=self.ttl_ms
                    )
                    if renewed:
                        log.warning("%s: lease had vanished, taken again", self.who)
            except redis.RedisError as exc:
                if self._stop.is_set():
                    return  # released while the renewal waited
                if time.monotonic() - last_renewed < self.ttl_ms / 1000:
                    log.warning("%s: lease renewal failed, retrying: %s", self.who, exc)
                elif self.lost_when_unreachable:
                    self._lost(f"Redis unreachable for longer than the lease ({exc})")
                    return
                elif not unreachable_said:
                    unreachable_said = True
                    log.error(
                        "%s: Redis unreachable for longer than the lease (%s); going on,"
                        " and taking the lease again once Redis answers",
                        self.who,
                        exc,
                    )
                continue
            if renewed:
                last_renewed = time.monotonic()
                unreachable_said = False
                continue
            self._lost("another process now holds the lease")
            return

    def _lost(self, why: str) -> None:
        log.error("%s: lease lost: %s; stopping", self.who, why)
        if self.on_lost is not None:
            self.on_lost(why)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self._call(self.redis.eval, _RELEASE, 1, self.key, self.token)
        except redis.RedisError as exc:
            log.warning("%s: lease not released (it expires by itself): %s", self.who, exc)
