"""Fault injection: what the control API can make the exchange do wrong, on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ExecFaults:
    """Faults on one account's ``execution`` stream (the ledger is never affected)."""

    drop: int = 0  # next N executions are silently not pushed
    duplicate: int = 0  # next N executions are pushed twice
    reorder_window: int = 0  # the next N execution frames are held and sent in reverse
    reorder_buffer: list[list[dict[str, object]]] = field(default_factory=list)
    delay_ms: int = 0
    delay_count: int = 0  # next N execution frames are delivered delay_ms late

    def active(self) -> bool:
        return bool(self.drop or self.duplicate or self.reorder_window or self.delay_count)

    def apply(self, items: list[dict[str, object]]) -> list[tuple[int, list[dict[str, object]]]]:
        """Frames to send as (delay ms, items); [] while a reorder window is filling."""
        if self.drop:
            n = min(self.drop, len(items))
            self.drop -= n
            items = items[n:]
            if not items:
                return []
        frames: list[list[dict[str, object]]] = [items]
        if self.duplicate:
            n = min(self.duplicate, len(items))
            self.duplicate -= n
            frames.append(items[:n])
        out: list[tuple[int, list[dict[str, object]]]] = []
        for frame in frames:
            if self.reorder_window:
                self.reorder_buffer.append(frame)
                if len(self.reorder_buffer) >= self.reorder_window:
                    out.extend((0, f) for f in self.flush_reorder())
                continue
            delay = 0
            if self.delay_count:
                self.delay_count -= 1
                delay = self.delay_ms
            out.append((delay, frame))
        return out

    def flush_reorder(self) -> list[list[dict[str, object]]]:
        held = list(reversed(self.reorder_buffer))
        self.reorder_buffer.clear()
        self.reorder_window = 0
        return held


@dataclass(slots=True)
class RestFault:
    remaining: int
    ret_code: int = 0
    http_status: int = 200
    path_prefix: str = "/v5/"
    message: str = "injected failure"


@dataclass(slots=True)
class RestFaults:
    pending: list[RestFault] = field(default_factory=list)

    def take(self, path: str) -> RestFault | None:
        for fault in self.pending:
            if path.startswith(fault.path_prefix):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.pending.remove(fault)
                return fault
        return None
