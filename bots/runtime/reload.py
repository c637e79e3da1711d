"""``reload``: a running bot takes its updated registration (``alpha bots update``)
without a restart where that is safe, and says "needs restart" where it is not.

The bot reads its row again and validates the config with its plugin, exactly as at
start. Then, all or nothing:

* live: the risk limits (the gate and the loss limits), the notification settings, and
  the strategy fields the plugin lists in ``Strategy.live_fields`` — ``symbols``
  among them when the plugin allows it: a new symbol gets its instrument rules, its
  warm-up and its candle subscription (as a universe refresh adds one); a removed one
  is no longer entered, but its candles keep coming and a position there is still
  managed until it is closed.
* restart: the mode, account, capital, Redis DB or type, and any strategy field the
  plugin does not list (indicator periods, interval, leverage). When one of these
  changed, nothing is applied: a half-applied registration would be neither the old
  one nor the new one. The bot keeps running as it was; the change applies at its next
  start.

The answer is one line on ``bot:{id}:reply:{command id}`` (``applied: …``,
``needs restart: …``, ``nothing to apply``, ``refused: …``) for the operator's CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from bots.runtime.registration import Registration
from core import plugins
from core.notify import NotifySettings, settings_of
from core.risk import RiskLimits, split_config
from core.strategy import Strategy

#: Registration fields a running bot cannot change under itself.
RESTART_FIELDS = ("mode", "account", "bot_type", "bot_code", "redis_db", "initial_capital")


@dataclass
class Plan:
    """What an update changes for a running bot."""

    new: Registration
    config: BaseModel | None = None
    limits: RiskLimits | None = None
    notify: NotifySettings | None = None
    #: Strategy fields that change (all live-safe when :attr:`restart` is empty).
    fields: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    #: Why a restart is needed (empty: everything applies live).
    restart: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        out = [f"config.{name}" for name in self.fields if name != "symbols"]
        if self.joined or self.left:
            out.append(
                "symbols" + "".join(f" +{s}" for s in self.joined)
                + "".join(f" -{s}" for s in self.left)
            )  # fmt: skip
        if self.limits is not None:
            out.append("risk")
        if self.notify is not None:
            out.append("notify")
        return out


def plan(old: Registration, new: Registration, strategy: Strategy[Any]) -> Plan:
    """Compare the running registration with the stored one. Raises ``UserError`` when
    the plugin refuses the stored config (``alpha bots update`` validated it, so only a
    hand-edited row or a changed plugin gets here)."""
    out = Plan(new)
    for name in RESTART_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            out.restart.append(f"{name} {_short(before)} -> {_short(after)}")
    config = plugins.validate_config(new.bot_type, new.config)
    # Registration against registration, not against the strategy's own config: a
    # strategy may keep more than its registration says (ShortSeller keeps the exits
    # of a removed symbol it still holds).
    running = plugins.validate_config(old.bot_type, old.config)
    _, old_limits = split_config(old.config)
    _, new_limits = split_config(new.config)
    if new_limits != old_limits:
        out.limits = new_limits
    if settings_of(new.config) != settings_of(old.config):
        out.notify = settings_of(new.config)
    before = running.model_dump(mode="json")
    after = config.model_dump(mode="json")
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        out.config = config
        out.fields = changed
        for name in changed:
            if name not in type(strategy).live_fields or name in ("interval", "leverage"):
                out.restart.append(f"config.{name} (not applied live by {new.bot_type})")
        if "symbols" in changed:
            out.joined = [s for s in after["symbols"] if s not in before["symbols"]]
            out.left = [s for s in before["symbols"] if s not in after["symbols"]]
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:39] + "…"
