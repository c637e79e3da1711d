"""One memory cgroup per bot process, as each bot's own container has.

``/proc/PID/smaps_rollup``'s RSS counts every page a process maps, so fifty bots' RSS
counts each shared library page fifty times. The kernel's memory controller, which a
container runtime puts each container in, charges a page once: to the cgroup whose
process first brought it into memory. A bot's cgroup usage is then its anonymous memory
(its heap) plus the file pages it was first to read; the sum over the bots counts
every page once. It is the figure a container's memory limit is enforced on and what
``docker stats`` shows per container (less the reclaimable page cache).

The bench starts each bot inside its cgroup (``sh`` joins it, then ``exec``s the bot),
so nothing it touches is charged elsewhere. cgroup v1's memory controller
(``/sys/fs/cgroup/memory``) and v2's (when the bench's own cgroup delegates it) are
both read; where neither can be written, :meth:`MemoryCgroups.open` says why and the
bench goes on without this figure.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


class MemoryCgroups:
    """A parent cgroup of the bench's own, with one child per bot."""

    def __init__(self, parent: Path, v2: bool) -> None:
        self.parent = parent
        self.v2 = v2
        self.children: dict[str, Path] = {}

    @classmethod
    def open(cls, name: str) -> MemoryCgroups | str:
        """A parent cgroup ``name`` under the bench's own memory cgroup, or why not."""
        own: dict[str, str] = {}  # controller ("" for v2's unified hierarchy) → our path
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            own.update((c, path) for c in controllers.split(","))
        if "memory" in own:  # v1: its own hierarchy
            base, v2 = ROOT / "memory" / own["memory"].lstrip("/"), False
        elif "" in own and (ROOT / "cgroup.controllers").exists():  # v2 mounted at the root
            base, v2 = ROOT / own[""].lstrip("/"), True
            if "memory" not in (base / "cgroup.subtree_control").read_text().split():
                return "cgroup v2: the memory controller is not delegated to the bench's cgroup"
        else:
            return "no memory cgroup controller mounted"
        parent = base / name
        try:
            parent.mkdir(exist_ok=True)
            if v2:
                (parent / "cgroup.subtree_control").write_text("+memory")
        except OSError as exc:
            return f"cannot create {parent}: {exc.strerror}"
        return cls(parent, v2)

    def command(self, bot_id: str, argv: list[str]) -> list[str]:
        """``argv`` started inside the bot's own cgroup."""
        child = self.parent / bot_id
        child.mkdir(exist_ok=True)
        self.children[bot_id] = child
        join = f'echo $$ > "{child / "cgroup.procs"}" && exec "$@"'
        return ["sh", "-c", join, "sh", *argv]

    def usage(self, bot_id: str) -> dict[str, float]:
        """MB the kernel charges the bot's cgroup: in all, anonymous, file pages."""
        from deploy.rehearsal.observe import charged_memory  # the rehearsal reads the same

        child = self.children[bot_id]
        anon, files = charged_memory((child / "memory.stat").read_text())
        current = "memory.current" if self.v2 else "memory.usage_in_bytes"
        total = int((child / current).read_text())
        mb = 1024 * 1024
        return {"usage": total / mb, "anon": anon / mb, "file": files / mb}

    def remove(self) -> None:
        """The bots' cgroups and the parent, once their processes have exited."""
        for child in self.children.values():
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            self.parent.rmdir()


if __name__ == "__main__":  # a quick look: is there a controller the bench can use here?
    found = MemoryCgroups.open(f"alpha-bench-probe-{os.getpid()}")
    print(found if isinstance(found, str) else f"usable: {found.parent} (v2={found.v2})")
    if not isinstance(found, str):
        found.remove()
