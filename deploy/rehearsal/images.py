"""Every image the stack runs, built here without a registry (deploy/images/)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.rehearsal.stack import DOCKER, ROOT, StackError, run

#: Infrastructure stand-ins built from Debian's packages, by compose variable.
INFRA = {
    "POSTGRES_IMAGE": "postgres",
    "PGBOUNCER_IMAGE": "pgbouncer",
    "REDIS_IMAGE": "redis",
    "PROMETHEUS_IMAGE": "prometheus",
}
TAG = "rehearsal"
#: A machine whose way out goes through an intercepting proxy gets its CA certificates
#: in a base image of its own, under a versioned tag (a reused machine may hold an older
#: one); such an image is never published.
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
BASE_PLAIN = "alpha-debian:bookworm"
BASE_HOST_CA = "alpha-debian:bookworm-hostca1"


@dataclass(frozen=True)
class Built:
    image: str
    seconds: float  # 0 when reused as it was
    size_bytes: int


def exists(image: str) -> bool:
    try:
        run([DOCKER, "image", "inspect", image])
    except StackError:
        return False
    return True


def size(image: str) -> int:
    return int(json.loads(run([DOCKER, "image", "inspect", image]))[0]["Size"])


def _host_ca() -> bool:
    return any(HOST_CA_DIR.glob("*.crt"))


def base_image(*, rebuild: bool) -> Built:
    host_ca = _host_ca()
    tag = BASE_HOST_CA if host_ca else BASE_PLAIN
    if exists(tag) and not rebuild:
        return Built(tag, 0.0, size(tag))
    started = time.monotonic()
    args = [str(ROOT / "deploy/images/build-base"), "--tag", tag]
    run([*args, "--host-ca"] if host_ca else args, timeout=900)
    return Built(tag, time.monotonic() - started, size(tag))


def build(image: str, context: Path, base: str) -> Built:
    started = time.monotonic()
    run([DOCKER, "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", image, str(context)],
        timeout=1800)  # fmt: skip
    return Built(image, time.monotonic() - started, size(image))


def build_all(*, no_build: bool, log: Callable[[str], None]) -> tuple[dict[str, str], list[Built]]:
    """Builds (or, with ``no_build``, only checks) every image; returns the compose
    variables that select them and what was built."""
    if no_build:
        base = Built(BASE_HOST_CA if _host_ca() else BASE_PLAIN, 0.0, 0)
    else:
        base = base_image(rebuild=False)
    images = {"ALPHA_BASE_IMAGE": base.image, "ALPHA_IMAGE": f"alpha-bots:{TAG}"}
    images |= {var: f"alpha-{name}:{TAG}" for var, name in INFRA.items()}
    if no_build:
        missing = [i for i in images.values() if i != base.image and not exists(i)]
        if missing:
            raise StackError(f"--no-build, but these images are missing: {', '.join(missing)}")
        return images, []
    built = [base]
    log(f"base image {base.image} ({'reused' if not base.seconds else f'{base.seconds:.0f} s'})")
    for var, name in INFRA.items():
        built.append(build(images[var], ROOT / "deploy/images" / name, base.image))
        log(f"image {images[var]}: {built[-1].seconds:.0f} s")
    built.append(build(images["ALPHA_IMAGE"], ROOT, base.image))
    log(f"image {images['ALPHA_IMAGE']}: {built[-1].seconds:.0f} s")
    return images, built
