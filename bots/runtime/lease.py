"""One running process per bot id: a lease in Redis, taken at start and renewed.

Two processes trading under one bot id would double every entry (each sees the same
candles and the same position). So ``alpha run bot`` first takes ``bot:{id}:lease`` with
``SET NX PX``, holding a token that names its host and pid, and a daemon thread renews
it every third of its time to live. Renewal and release are compare-and-set scripts, so
a process never extends or deletes a lease it no longer holds.

When the lease is held by someone else at start:

* held by an earlier process of *this* host that is gone (its pid is ours — a container
  restarted with the same pid — or no longer exists): that process died without
  releasing (``kill -9``), so the lease is taken over at once;
* otherwise we wait, at most one time-to-live, for it to expire: a holder that died on
  another host (a recreated container has a new hostname) stops renewing, and the lease
  lapses within that time. A holder that keeps renewing is alive: we refuse to start
  with :class:`LeaseHeld` (its own exit code, so a supervisor can tell it from a crash).

If renewal finds the lease gone to another holder, or cannot reach Redis for longer than
the lease lives, the process can no longer be sure it is the only one: ``on_lost`` is
called (the service stops the bot; exits are left to whoever holds the lease now).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

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
    """Another live process runs this bot id."""

    exit_code = 73  # EX_CANTCREAT: "cannot create" the single instance


def lease_key(bot_id: str) -> str:
    return f"bot:{bot_id}:lease"


def _token() -> str:
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


class BotLease:
    """``acquire()`` once, then it renews itself until ``release()``."""

    def __init__(
        self,
        client: redis.Redis,
        bot_id: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.redis = client
        self.bot_id = bot_id
        self.key = lease_key(bot_id)
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = _token()
        self.on_lost = on_lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.ttl_ms / 1000 + 1
        while True:
            if self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
                break
            holder = self.redis.get(self.key)
            if holder is None:
                continue  # expired between the two calls
            holder = holder.decode() if isinstance(holder, bytes) else str(holder)
            if _holder_is_gone(holder) and self.redis.eval(
                _STEAL, 1, self.key, holder, self.token, str(self.ttl_ms)
            ):
                log.warning("bot %s: took over the lease of dead process %s", self.bot_id, holder)
                break
            if time.monotonic() >= deadline:
                raise LeaseHeld(
                    f"bot {self.bot_id} is already running ({holder.rsplit(':', 1)[0]} holds"
                    f" its lease and keeps renewing it); stop that process first"
                )
            time.sleep(0.2)
        log.info("bot %s: lease taken (%s)", self.bot_id, self.token)
        self._thread = threading.Thread(target=self._renew_loop, name="bot-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        every = self.ttl_ms / 3000
        last_renewed = time.monotonic()
        while not self._stop.wait(every):
            try:
                renewed = self.redis.eval(_RENEW, 1, self.key, self.token, str(self.ttl_ms))
            except redis.RedisError as exc:
                if time.monotonic() - last_renewed < self.ttl_ms / 1000:
                    log.warning("bot %s: lease renewal failed, retrying: %s", self.bot_id, exc)
                    continue
                self._lost(f"Redis unreachable for longer than the lease ({exc})")
                return
            if renewed:
                last_renewed = time.monotonic()
                continue
            # Gone: Redis restarted without the key, or someone else took it.
            if self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms):
                log.warning("bot %s: lease had vanished, taken again", self.bot_id)
                last_renewed = time.monotonic()
                continue
            self._lost("another process now holds the lease")
            return

    def _lost(self, why: str) -> None:
        log.error("bot %s: lease lost: %s; stopping", self.bot_id, why)
        if self.on_lost is not None:
            self.on_lost(why)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.redis.eval(_RELEASE, 1, self.key, self.token)
        except redis.RedisError as exc:
            log.warning("bot %s: lease not released (it expires by itself): %s", self.bot_id, exc)
