"""A small local stand-in for the Telegram Bot API, for tests (this machine cannot reach
Telegram). It speaks the same HTTP protocol the real PTB ``Bot`` uses —
``POST {base}/bot{token}/{method}`` with form or multipart bodies whose values are
JSON-encoded — records every call, and lets a test inject updates (messages from a given
user in a given chat, button presses) that the application then long-polls with
``getUpdates``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {
    "id": 900000001,
    "is_bot": True,
    "first_name": "Alpha C2",
    "username": "alpha_c2_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
#: Longest a getUpdates call is held open, whatever timeout the client asks for.
MAX_HOLD_SECONDS = 2.0


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    #: When the request arrived (``time.monotonic``), to check Telegram's flood limits.
    at: float = field(default_factory=time.monotonic)


#: What Telegram answers when a message cannot be delivered (``network``: the
#: connection drops before any answer).
FAULTS: dict[str, tuple[int, dict[str, Any]]] = {
    "429": (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    ),
    "403": (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    ),
    "400": (400, {"ok": False, "error_code": 400, "description": "Bad Request: query is too old"}),
}


@dataclass
class Fault:
    """Calls to ``method`` (for ``chat_id``, if given) fail with ``kind``."""

    method: str
    kind: str  # a key of FAULTS, or "network"
    chat_id: int | None = None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if method != self.method:
            return False
        return self.chat_id is None or int(params.get("chat_id", 0)) == self.chat_id


class FakeBotApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._callback_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._new_call = asyncio.Event()
        #: Messages the bot sent, by message_id (for button presses and edits).
        self.sent: dict[int, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        #: getUpdates calls so far (the application is polling once this is > 0).
        self.polls = 0
        #: Injected failures (see :meth:`fail`) and the calls they refused.
        self.faults: list[Fault] = []
        self.failed: list[Call] = []
        #: Messages users sent, oldest first.
        self.received: list[dict[str, Any]] = []

    # --- lifecycle ------------------------------------------------------------------

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,  # 0: the OS picks a free one
        extra_routes: Callable[[web.Application], None] | None = None,
    ) -> str:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        if extra_routes is not None:
            extra_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- injecting updates ----------------------------------------------------------

    def _push(self, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **payload})
        self._new_update.set()
        return update_id

    def message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        username: str | None = None,
        age_seconds: float = 0,
    ) -> int:
        """A user sends ``text`` (a ``/command`` gets its bot_command entity);
        ``age_seconds`` back-dates it (a message Telegram held while the bot was away)."""
        msg = self._user_message(user_id, text, chat_id, chat_type, username, age_seconds)
        self.received.append(msg)
        return self._push({"message": msg})

    def edit(self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None) -> int:
        """A user edits their earlier message ``message_id`` into ``text``."""
        msg = self._user_message(user_id, text, chat_id, "private", None, 0)
        msg["message_id"] = message_id
        msg["edit_date"] = msg["date"]
        return self._push({"edited_message": msg})

    def fail(self, method: str, kind: str, *, chat_id: int | None = None) -> Fault:
        """From now on, ``method`` calls fail (429, 403, 400 or a dropped connection)."""
        fault = Fault(method, kind, chat_id)
        self.faults.append(fault)
        return fault

    def heal(self) -> None:
        self.faults.clear()

    def _user_message(
        self,
        user_id: int,
        text: str,
        chat_id: int | None,
        chat_type: str,
        username: str | None,
        age_seconds: float,
    ) -> dict[str, Any]:
        chat_id = user_id if chat_id is None else chat_id
        user = {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"}
        if username:
            user["username"] = username
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "a group"
        msg: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time() - age_seconds),
            "chat": chat,
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return msg

    def press(self, user_id: int, message_id: int, data: str) -> int:
        """A user presses the inline button carrying ``data`` under message ``message_id``."""
        message = self.sent[message_id]
        return self._push(
            {
                "callback_query": {
                    "id": str(next(self._callback_ids)),
                    "from": {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"},
                    "chat_instance": "ci",
                    "data": data,
                    "message": message,
                }
            }
        )

    # --- inspecting calls -----------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def texts_to(self, chat_id: int) -> list[str]:
        return [
            str(c.params.get("text", c.params.get("caption", "")))
            for c in self.calls
            if c.method in ("sendMessage", "sendPhoto", "editMessageText")
            and int(c.params.get("chat_id", 0)) == chat_id
        ]

    async def wait_for(
        self, predicate: Callable[[Call], bool], *, timeout: float = 10.0, after: int = 0
    ) -> Call:
        """The first recorded call (from index ``after``) matching ``predicate``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for call in self.calls[after:]:
                if predicate(call):
                    return call
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = [(c.method, c.params.get("text")) for c in self.calls[after:]]
                raise AssertionError(f"no matching Bot API call within {timeout}s; saw {seen}")
            self._new_call.clear()
            try:
                await asyncio.wait_for(self._new_call.wait(), remaining)
            except TimeoutError:
                pass

    async def reply_to(self, chat_id: int, *, after: int, timeout: float = 10.0) -> Call:
        """The next message (text or photo) the bot sends to ``chat_id``."""
        return await self.wait_for(
            lambda c: (
                c.method in ("sendMessage", "sendPhoto")
                and int(c.params.get("chat_id", 0)) == chat_id
            ),
            timeout=timeout,
            after=after,
        )

    # --- the HTTP side --------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            return dict(await request.json()), files
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]
                if part.filename:  # type: ignore[union-attr]
                    files[part.name or ""] = bytes(data)
                else:
                    params[part.name or ""] = _decode(data.decode())
            return params, files
        form = await request.post()
        for key, value in form.items():
            params[key] = _decode(str(value))
        return params, files

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params, files = await self._params(request)
        if method == "getUpdates":
            self.polls += 1
        elif fault := next((f for f in self.faults if f.matches(method, params)), None):
            self.failed.append(Call(method, params, files))
            self._new_call.set()
            if fault.kind == "network":
                assert request.transport is not None
                request.transport.abort()  # the client sees the connection drop
                return web.Response()
            status, body = FAULTS[fault.kind]
            return web.json_response(body, status=status)
        else:
            self.calls.append(Call(method, params, files))
            self._new_call.set()
        handler = getattr(self, f"_m_{method}", None)
        result = await handler(params, files) if handler else True
        return web.json_response({"ok": True, "result": result})

    async def _m_getMe(  # noqa: N802 (Bot API method name)
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        return BOT_USER

    async def _m_getUpdates(  # noqa: N802 (Bot API method name)
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        hold = min(float(params.get("timeout") or 0), MAX_HOLD_SECONDS)
        # Confirming an offset forgets everything before it, as Telegram does.
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and hold > 0:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), hold)
            except TimeoutError:
                pass
        return self._updates[:limit]

    def _bot_message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        msg = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": BOT_USER,
            **extra,
        }
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        self.sent[msg["message_id"]] = msg
        return msg

    async def _m_sendMessage(  # noqa: N802 (Bot API method name)
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        return self._bot_message(params, text=str(params["text"]))

    async def _m_sendPhoto(  # noqa: N802 (Bot API method name)
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        photo = [{"file_id": "f1", "file_unique_id": "u1", "width": 800, "height": 400}]
        extra: dict[str, Any] = {"photo": photo}
        if params.get("caption"):
            extra["caption"] = str(params["caption"])
        return self._bot_message(params, **extra)

    async def _m_editMessageText(  # noqa: N802 (Bot API method name)
        self, params: dict[str, Any], files: dict[str, bytes]
    ) -> Any:
        msg = self.sent[int(params["message_id"])]
        msg["text"] = str(params["text"])
        msg.pop("reply_markup", None)
        if params.get("reply_markup"):
            msg["reply_markup"] = params["reply_markup"]
        return msg


def _decode(value: str) -> Any:
    """PTB JSON-encodes every non-string value of a form field."""
    try:
        return json.loads(value)
    except ValueError:
        return value
