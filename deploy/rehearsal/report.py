"""The printed report: measurements, one line per check, and the verdict as the last line."""

from __future__ import annotations

from collections.abc import Iterable

from deploy.rehearsal.checks import Check
from deploy.rehearsal.images import Built


def measurements(
    built: Iterable[Built], up_seconds: float | None, memory: dict[str, tuple[int, int]],
    total_seconds: float,
) -> list[str]:  # fmt: skip
    lines = ["images (build time, size):"]
    for b in built:
        took = f"{b.seconds:.0f} s" if b.seconds else "cached"
        lines.append(f"  {b.image:<34} {took:>8}  {b.size_bytes / 2**20:6.0f} MiB")
    if up_seconds is not None:
        lines.append(f"`up` to every service healthy: {up_seconds:.0f} s")
    lines.append("peak memory (docker stats) / compose limit:")
    for service, (peak, limit) in sorted(memory.items()):
        shown = f"{limit / 2**20:.0f} MiB" if limit and limit < 2**40 else "no limit"
        lines.append(f"  {service:<20} {peak / 2**20:6.0f} MiB / {shown}")
    lines.append(f"rehearsal total: {total_seconds / 60:.1f} min")
    return lines


def verdict(checks: list[Check]) -> str:
    failed = [c.name for c in checks if not c.ok]
    if not checks:
        return "rehearsal: FAILED: nothing was checked"
    return "rehearsal: PASSED" if not failed else f"rehearsal: FAILED: {', '.join(failed)}"


def render(checks: list[Check], measured: list[str]) -> str:
    lines = ["", "== rehearsal report", *measured, "checks:"]
    lines += [f"  {'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}" for c in checks]
    lines.append(verdict(checks))
    return "\n".join(lines)
