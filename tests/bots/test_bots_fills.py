"""Recognising a fill the bot has already seen (bots/runtime/fills.py) against real Redis,
through a connection that can lose a reply the way a Redis restart loses one."""

from __future__ import annotations

import threading
from typing import Any

import redis as redis_lib

from bots.runtime.fills import first_delivery
from core.redis_client import UntilRedisAnswers

BOT = "ss_fills"


class LosesReplies(redis_lib.Connection):
    """A connection that loses the reply of the next ``lose`` ZADDs after the server ran
    them: the reply is read, then the connection fails as a closed socket does."""

    lose = 0
    sent = ""

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self.sent = str(args[0]).upper()
        super().send_command(*args, **kwargs)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        answer = super().read_response(*args, **kwargs)
        if LosesReplies.lose and self.sent == "ZADD":
            LosesReplies.lose -= 1
            self.disconnect()
            raise redis_lib.ConnectionError("Connection closed by server.")
        return answer


def _client(redis: redis_lib.Redis) -> redis_lib.Redis:
    kwargs = redis.connection_pool.connection_kwargs
    pool = redis_lib.ConnectionPool(
        connection_class=LosesReplies,
        **{k: kwargs[k] for k in ("host", "port", "db", "credential_provider") if k in kwargs},
        password=kwargs.get("password"),
        decode_responses=True,
        retry=UntilRedisAnswers("test", threading.Event(), every=0.01),
    )
    return redis_lib.Redis(connection_pool=pool)


def test_a_fill_whose_mark_was_sent_again_after_a_lost_reply_is_still_new(redis):
    """Before: the first ZADD ran, its reply was lost, the retried one found the mark and
    answered 0, and the fill counted as a redelivery: the bot never reacted to it (an
    entry fill whose stop was never placed)."""
    client = _client(redis)
    LosesReplies.lose = 1
    assert first_delivery(client, BOT, "e1", prune=False)
    assert LosesReplies.lose == 0  # the reply was lost, and the call went on
    # A real redelivery (the same exec id again, later) is still recognised.
    assert not first_delivery(client, BOT, "e1", prune=False)
    assert first_delivery(client, BOT, "e2", prune=False)
