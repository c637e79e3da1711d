"""Bybit's per-account, per-endpoint request limits over a rolling second."""

from __future__ import annotations

import time
from collections import deque


class RateLimiter:
    """A rolling one-second window per (account, endpoint), like Bybit's."""

    def __init__(self) -> None:
        self.enabled = True
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def check(self, account: str, path: str, limit: int) -> tuple[dict[str, str], bool]:
        now = time.time()
        hits = self._hits.get((account, path))
        if hits is None:
            hits = self._hits[(account, path)] = deque()
        while hits and hits[0] <= now - 1.0:
            hits.popleft()
        exceeded = self.enabled and len(hits) >= limit
        if not exceeded:
            hits.append(now)
        reset_ms = int((hits[0] + 1.0) * 1000) + 1 if exceeded else int(now * 1000)
        headers = {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(max(0, limit - len(hits))),
            "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
        }
        return headers, exceeded
