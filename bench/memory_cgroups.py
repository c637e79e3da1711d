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
both read; where neither can be written, :meth:`MemoryCgroups.open` gives a set that
starts nothing in a cgroup and says why (``reason``), and the bench goes on without
this figure. :func:`charged` reads whatever memory cgroup a process is in: the bench's
or a container's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def _own_paths(pid: int | str) -> dict[str, str]:
    """Controller ("" for v2's unified hierarchy) → the process's cgroup path."""
    own: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        own.update((c, path) for c in controllers.split(","))
    return own


def _memory_dir(pid: int | str) -> tuple[Path, bool] | None:
    """The process's memory cgroup directory and whether it is v2's, or None."""
    own = _own_paths(pid)
    if "memory" in own:  # v1: its own hierarchy
        return ROOT / "memory" / own["memory"].lstrip("/"), False
    if "" in own and (ROOT / "cgroup.controllers").exists():  # v2 mounted at the root
        return ROOT / own[""].lstrip("/"), True
    return None


def charged(pid: int) -> dict[str, float]:
    """MB the kernel charges the memory cgroup ``pid`` is in: in all, anonymous, file
    pages (a bench cgroup of :class:`MemoryCgroups` or a container's)."""
    from deploy.rehearsal.observe import charged_memory  # the rehearsal reads the same

    found = _memory_dir(pid)
    if found is None:
        raise OSError(f"process {pid} is in no memory cgroup")
    directory, v2 = found
    anon, files = charged_memory((directory / "memory.stat").read_text())
    total = int((directory / ("memory.current" if v2 else "memory.usage_in_bytes")).read_text())
    mb = 1024 * 1024
    return {"usage": total / mb, "anon": anon / mb, "file": files / mb}


class MemoryCgroups:
    """A parent cgroup of the bench's own, with one child per bot; or, where none can
    be made, a set that wraps nothing and says why (``reason``)."""

    def __init__(self, parent: Path | None, v2: bool = False, reason: str = "") -> None:
        self.parent = parent
        self.v2 = v2
        self.reason = reason
        self.children: list[Path] = []

    @classmethod
    def open(cls, name: str) -> MemoryCgroups:
        """A parent cgroup ``name`` under the bench's own memory cgroup."""
        found = _memory_dir("self")
        if found is None:
            return cls(None, reason="no memory cgroup controller mounted")
        base, v2 = found
        if v2 and "memory" not in (base / "cgroup.subtree_control").read_text().split():
            return cls(None, reason="cgroup v2: the memory controller is not delegated to "
                                    "the bench's cgroup")  # fmt: skip
        parent = base / name
        try:
            parent.mkdir(exist_ok=True)
            if v2:
                (parent / "cgroup.subtree_control").write_text("+memory")
        except OSError as exc:
            return cls(None, reason=f"cannot create {parent}: {exc.strerror}")
        return cls(parent, v2)

    def command(self, bot_id: str, argv: list[str]) -> list[str]:
        """``argv`` started inside the bot's own cgroup (unchanged without a parent)."""
        if self.parent is None:
            return argv
        child = self.parent / bot_id
        child.mkdir(exist_ok=True)
        self.children.append(child)
        join = f'echo $$ > "{child / "cgroup.procs"}" && exec "$@"'
        return ["sh", "-c", join, "sh", *argv]

    def remove(self) -> None:
        """The bots' cgroups and the parent, once their processes have exited."""
        if self.parent is None:
            return
        for child in self.children:
            with contextlib.suppress(OSError):
                child.rmdir()
        with contextlib.suppress(OSError):
            self.parent.rmdir()


if __name__ == "__main__":  # a quick look: is there a controller the bench can use here?
    found = MemoryCgroups.open(f"alpha-bench-probe-{os.getpid()}")
    print(found.reason or f"usable: {found.parent} (v2={found.v2})")
    found.remove()
