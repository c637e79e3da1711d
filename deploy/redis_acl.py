"""Writes ``deploy/redis/users.acl.in`` from the rules in ``core/redis_acl.py``.

    python -m deploy.redis_acl          # rewrite the template
    python -m deploy.redis_acl --check  # exit 1 when the template is out of date

The Redis container's entrypoint (``deploy/redis/entrypoint.sh``) completes the template
with each user's password hash; a test keeps the file and the code in step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import redis_acl

TEMPLATE = Path(__file__).parent / "redis" / "users.acl.in"
HEADER = (
    '# Redis ACL users of Alpha: "<user> <rules>"; {bot} stands for a bot\'s id.\n'
    "# Generated from core/redis_acl.py by `python -m deploy.redis_acl`: do not edit.\n"
)


def render() -> str:
    return HEADER + redis_acl.template()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.redis_acl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if the template is out of date"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if TEMPLATE.read_text(encoding="utf-8") != text:
            print(
                f"redis_acl: {TEMPLATE} is out of date; run python -m deploy.redis_acl",
                file=sys.stderr,
            )
            return 1
        return 0
    TEMPLATE.write_text(text, encoding="utf-8")
    print(f"wrote {TEMPLATE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
