"""Checks of the ``Dockerfile``: multi-stage, not root, no compilers or secrets shipped.

Apart from the compose checks because it reads another file in another language
(Dockerfile instructions, not YAML); ``deploy/compose_check.py`` runs it with the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMPILERS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|cc|make|cmake|rustc|cargo|"
    r"python3?-dev|libpq-dev|[a-z0-9.+-]*-dev)\b"
)


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]]


def dockerfile_stages(text: str) -> list[Stage]:
    """``FROM`` … stages with their instructions (continuation lines joined)."""
    logical: list[str] = []
    buffer = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, parts[0], []))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages


def check_dockerfile(text: str) -> list[str]:
    stages = dockerfile_stages(text)
    if not stages:
        return ["Dockerfile: no FROM"]
    final = stages[-1]
    problems: list[str] = []
    if len(stages) < 2:
        problems.append("Dockerfile: not multi-stage (build tools would ship)")
    users = [arg for kw, arg in final.instructions if kw == "USER"]
    if not users:
        problems.append(f"Dockerfile: final stage {final.name} has no USER (runs as root)")
    elif users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"Dockerfile: final stage {final.name} runs as {users[-1]}")
    for kw, arg in final.instructions:
        if kw == "RUN" and re.search(r"\b(apt-get|apk|yum|dnf)\b[^;&|]*\binstall\b", arg):
            installs = re.findall(r"\binstall\b([^;&|]*)", arg)
            for packages in installs:
                hit = COMPILERS.search(packages)
                if hit:
                    problems.append(f"Dockerfile: final stage installs compiler {hit.group(1)}")
        if kw == "ENV" and re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)\w*=", arg):
            problems.append(
                f"Dockerfile: a secret is baked into the image: ENV {arg.split('=')[0]}"
            )
        if kw == "RUN" and re.search(r"\b(curl|wget|urlretrieve|urlopen)\b", arg):
            problems.append(
                f"Dockerfile: final stage {final.name} downloads at build time (no registry"
                " or internet may be reachable: take packages from the base's apt sources)"
            )
    if re.match(r"\s*#\s*syntax\s*=", text):
        problems.append("Dockerfile: a '# syntax=' line needs BuildKit; the classic builder"
                        " must be able to build it")  # fmt: skip
    entry = [arg for kw, arg in final.instructions if kw == "ENTRYPOINT"]
    if not entry or "alpha" not in entry[-1]:
        problems.append("Dockerfile: ENTRYPOINT is not alpha")
    if not any(kw == "HEALTHCHECK" for kw, _ in final.instructions):
        problems.append("Dockerfile: no HEALTHCHECK")
    return problems
