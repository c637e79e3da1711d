"""One module per command family; :data:`ALL` is the order /help lists them in."""

from __future__ import annotations

from telegram_c2.commands import backup, control, danger, drift, ledger, status
from telegram_c2.commands.base import Command

ALL: list[Command] = [
    *status.COMMANDS,
    *control.COMMANDS,
    *ledger.COMMANDS,
    *drift.COMMANDS,
    *danger.COMMANDS,
    *backup.COMMANDS,
]
