"""The accounts a paper exchange serves: ``NAME:API_KEY:API_SECRET[:USDT_BALANCE]`` items
from ``--account`` flags, ``PAPER_ACCOUNTS`` or ``PAPER_ACCOUNTS_FILE``."""

from __future__ import annotations

import argparse
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.errors import UserError

_ACCOUNT_RE = re.compile(r"([a-z][a-z0-9_]{0,31}):([^:\s]+):([^:\s]+)(?::([^:\s]+))?")


def parse_account(text: str) -> tuple[str, str, str, Decimal]:
    """``NAME:API_KEY:API_SECRET[:USDT_BALANCE]`` → parts; UserError when malformed."""
    m = _ACCOUNT_RE.fullmatch(text)
    if not m:
        raise UserError(
            f"bad --account {text.split(':')[0]!r}…: expected "
            "NAME:API_KEY:API_SECRET[:USDT_BALANCE] with NAME like 'main' "
            "(lowercase letters, digits, _)"
        )
    name, key, secret, balance = m.groups()
    try:
        amount = Decimal(balance) if balance else Decimal(100_000)
    except InvalidOperation:
        raise UserError(f"bad --account {name}: balance {balance!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise UserError(f"bad --account {name}: balance must be >= 0")
    return name, key, secret, amount


def account_texts(args: argparse.Namespace) -> list[str]:
    """The accounts to serve: ``--account`` flags, else ``PAPER_ACCOUNTS`` (or the file
    ``PAPER_ACCOUNTS_FILE``): the same ``NAME:API_KEY:API_SECRET[:USDT_BALANCE]`` items,
    separated by commas or new lines. Real secrets belong in the environment or a file:
    a command line is visible to every user of the machine (``ps``) and to ``docker
    inspect``."""
    if args.account:
        return list(args.account)
    text = os.environ.get("PAPER_ACCOUNTS", "")
    path = os.environ.get("PAPER_ACCOUNTS_FILE")
    if path:
        if text:
            raise UserError("set either PAPER_ACCOUNTS or PAPER_ACCOUNTS_FILE, not both")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"PAPER_ACCOUNTS_FILE: cannot read {path}: {exc.strerror}") from None
    return [item.strip() for item in re.split(r"[,\n]", text) if item.strip()]
