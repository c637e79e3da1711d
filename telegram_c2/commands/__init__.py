"""One module per command family; :data:`ALL` is the order /help lists them in."""

from __future__ import annotations

from telegram_c2.commands import (
    account,
    backup,
    control,
    danger,
    drift,
    ledger,
    reports,
    status,
)
from telegram_c2.commands.base import Command

ALL: list[Command] = [
    *status.COMMANDS,
    *ledger.COMMANDS,
    *reports.COMMANDS,
    *account.COMMANDS,
    *drift.COMMANDS,
    *control.COMMANDS,
    *danger.COMMANDS,
    *backup.COMMANDS,
]
