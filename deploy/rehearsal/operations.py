"""Operations on the running stack: one backup, and the C2 driven through a fake Bot API."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from deploy.rehearsal.stack import Stack, StackError

ADMIN = 1001  # C2_TELEGRAM_ADMIN_IDS of the rehearsal's .env
_TELEGRAM = "http://127.0.0.1:8081"
#: What the C2's alert pump sends the admin on its own (telegram_c2/alerts.py): an alert
#: line, a batch, or a bot's digest of trade notifications — never a command's answer.
_PUSHED = re.compile(r"^(ℹ️|⚠️|🚨|✅) |^\d+ (alerts|notifications) ")


def run_backup(stack: Stack) -> str:
    """`alpha backup now` in the backup container: dump, scratch restore, record."""
    try:
        return stack.exec("backup", "alpha", "backup", "now", timeout=600).strip()
    except StackError as exc:  # the check reads the recorded outcome; this says why
        return str(exc)


class Telegram:
    """The fake Bot API container: what an admin types, what the C2 answered."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        args = [_TELEGRAM + path] + ([json.dumps(body)] if body is not None else [])
        return json.loads(self._stack.python("fake_telegram", "http.py", *args))

    def calls(self) -> int:
        return int(self._call("/_test/calls?after=0")["count"])

    def say(self, text: str, timeout: float = 60) -> str | None:
        """Sends ``text`` as the admin; returns the C2's first answer, or None."""
        after = self.calls()
        self._call("/_test/message", {"user_id": ADMIN, "text": text})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self._call(f"/_test/calls?after={after}")["calls"]:
                params = call.get("params") or {}
                text = str(params.get("text") or "")
                if (
                    call["method"] == "sendMessage"
                    and str(params.get("chat_id")) == str(ADMIN)
                    and not _PUSHED.match(text)  # bots trade meanwhile: their news is not it
                ):
                    return text
            time.sleep(1)
        return None


def bot_state(stack: Stack, bot_id: str, redis_db: int) -> str:
    """The state the bot obeys: ``bot:{id}:state`` in its Redis DB."""
    out = stack.exec(
        "redis", "sh", "-c",
        f'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning -n {redis_db} '
        f"get bot:{bot_id}:state",
    )  # fmt: skip
    return out.strip()


def drive_c2(stack: Stack, bot_id: str, redis_db: int) -> dict[str, Any]:
    telegram = Telegram(stack)
    outcome: dict[str, Any] = {"paused_bot": bot_id}
    status = telegram.say("/status")
    outcome["status_answered"] = bool(status)
    outcome["status_text"] = (status or "")[:200]
    paused_at = time.time()
    reply = telegram.say(f"/pause {bot_id}")
    outcome["pause_reply"] = reply
    outcome["paused_at"] = paused_at
    outcome["paused_state"] = bot_state(stack, bot_id, redis_db)
    return outcome


def resume(stack: Stack, outcome: dict[str, Any]) -> None:
    reply = Telegram(stack).say(f"/resume {outcome['paused_bot']}")
    outcome["resumed"] = bool(reply)


def probe_api(stack: Stack, bot_id: str) -> dict[str, Any]:
    """The HTTP API as an operator meets it: a viewer token made with the one-shot
    `alpha api token create`, then reads, a refused write and no token at all
    (probes/api.py); and what the database says the API should have answered."""
    outcome: dict[str, Any] = {"bot": bot_id}
    try:
        out = stack.compose(
            "run", "--rm", "--no-deps", "-T", "migrate",
            "api", "token", "create", "--role", "viewer", "--name", "rehearsal",
            timeout=120,
        )  # fmt: skip
        token = out.strip().splitlines()[-1] if out.strip() else ""
        outcome.update(json.loads(stack.python("api", "api.py", token, bot_id)))
    except (StackError, json.JSONDecodeError, IndexError) as exc:
        outcome["error"] = str(exc)[:300]
        return outcome
    outcome["db_positions"] = [
        {"symbol": symbol, "qty": qty}
        for symbol, qty in stack.psql(
            f"SELECT symbol, qty FROM analytics.bot_positions WHERE bot_id = '{bot_id}'"
            " ORDER BY symbol"
        )
    ]
    outcome["audited_refusals"] = int(stack.psql(
        # A refusal names the bot in its arguments (bot_id is for accepted actions).
        "SELECT count(*) FROM trading.bot_commands WHERE channel = 'api'"
        f" AND outcome = 'refused' AND command = 'pause' AND '{bot_id}' = ANY(args)"
    )[0][0])  # fmt: skip
    return outcome
