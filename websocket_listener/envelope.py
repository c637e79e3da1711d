"""What travels from a source (WebSocket, catch-up, hand-over, replay) to the writer.

An :class:`Envelope` is one private-stream message as the exchange sent it, plus the
account it came from and whether it came over the socket or REST. It is plain data that
serialises to one JSON line, so the same object goes into the in-memory queue, the
on-disk spool and a replay capture without conversion. The receiving thread may parse
an execution message's items ahead of the writer (a cache, see ``Recorder.prepare``),
never raising: a malformed message can never hurt the thread that received it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Source = Literal["ws", "rest"]

#: Topics whose data the writer stores; everything else is counted and ignored.
EXECUTION = "execution"
ORDER = "order"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: ``topic`` and the list of items in its ``data`` array."""

    account: str
    source: Source
    topic: str
    items: list[Any]
    received_at: float = field(default_factory=time.time)
    #: The message as received when it could not be split into topic + items (for rejects).
    malformed: str | None = None
    #: Called once the envelope is committed or spooled (e.g. XACK of a hand-over entry).
    on_durable: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    #: ``items`` already parsed (and, where the registry decides, attributed) on the
    #: receiving thread (``Recorder.prepare``): a cache the writer uses when present,
    #: never serialised.
    parsed: list[Any] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_ws(cls, account: str, message: Any, source: Source = "ws") -> Envelope:
        """Split a private WebSocket message; anything unexpected becomes a reject later."""
        if isinstance(message, dict):
            topic = message.get("topic")
            data = message.get("data")
            if isinstance(topic, str) and isinstance(data, list):
                return cls(account, source, _base_topic(topic), data)
        return cls(account, source, "", [], malformed=_dump(message))

    @classmethod
    def from_rest(cls, account: str, kind: str, item: Any) -> Envelope:
        """One item of ``/v5/execution/list`` (kind ``execution``) or an order list (``order``)."""
        return cls(account, "rest", kind, [item])

    def to_json(self) -> str:
        return json.dumps(
            {
                "account": self.account,
                "source": self.source,
                "topic": self.topic,
                "items": self.items,
                # Whole microseconds: exact in JSON, and no float to parse back.
                "received_us": round(self.received_at * 1_000_000),
                "malformed": self.malformed,
            },
            separators=(",", ":"),
            default=str,
        )

    @classmethod
    def from_json(cls, line: str) -> Envelope:
        # parse_float keeps any accidental JSON number exact; the exchange sends strings.
        row = json.loads(line, parse_float=Decimal)
        return cls(
            row["account"],
            row["source"],
            row["topic"],
            row["items"],
            _received_at(row),
            row.get("malformed"),
        )


def _base_topic(topic: str) -> str:
    """``execution.linear`` → ``execution``; ``execution.fast`` stays distinct."""
    if topic.startswith("execution.fast"):
        return "execution.fast"
    return topic.split(".", 1)[0]


def _dump(message: Any) -> str:
    try:
        return json.dumps(message, default=str)[:100_000]
    except (TypeError, ValueError):
        return repr(message)[:100_000]


def _received_at(row: dict[str, Any]) -> float:
    """Seconds since the epoch; spool lines from before ``received_us`` carry seconds."""
    if "received_us" in row:
        return int(row["received_us"]) / 1_000_000
    legacy: Decimal = row["received_at"]  # parsed with parse_float=Decimal
    return int(legacy * 1_000_000) / 1_000_000
