"""The kill switch's flag (``risk:kill`` in the infrastructure DB, docs/redis.md).

While the flag exists every bot's risk gate refuses new entries. Its value says who set
it and when: ``{"requested_by": …, "at": ISO time}``. Set by the C2's ``/kill``; lifted
by ``/unkill`` or ``alpha kill lift``, after which every bot stays paused until resumed.
"""

from __future__ import annotations

import json
from datetime import datetime


def flag_value(requested_by: str, at: datetime) -> str:
    return json.dumps({"requested_by": requested_by, "at": at.isoformat()})


def parse_flag(raw: str | None) -> dict[str, str] | None:
    """Who set the flag and when; None when it is not set. A value that is not ours
    (set by hand) still means "killed"."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return {key: str(value.get(key, "?")) for key in ("requested_by", "at")}
    return {"requested_by": "?", "at": "?"}
