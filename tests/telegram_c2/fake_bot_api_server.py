"""The fake Bot API as a process of its own, driven over HTTP: for the production
rehearsal, where the C2 runs in a container and the driver outside it.

    C2_TELEGRAM_BOT_TOKEN=… python -m tests.telegram_c2.fake_bot_api_server --port 8081

It accepts the token in ``C2_TELEGRAM_BOT_TOKEN``, as the C2 reads it. Besides the Bot
API it answers, for the driver:

- ``POST /_test/message`` ``{"user_id", "text", "chat_id"?}`` → ``{"update_id"}``
- ``POST /_test/press`` ``{"user_id", "message_id", "data"}`` → ``{"update_id"}``
- ``GET /_test/calls?after=N`` → ``{"calls": [{"method", "params"}, …], "count"}``
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from aiohttp import web

from tests.telegram_c2.fake_bot_api import FakeBotApi


def routes(api: FakeBotApi) -> Any:
    async def message(request: web.Request) -> web.Response:
        body = await request.json()
        update = api.message(int(body["user_id"]), str(body["text"]), chat_id=body.get("chat_id"))
        return web.json_response({"update_id": update})

    async def press(request: web.Request) -> web.Response:
        body = await request.json()
        update = api.press(int(body["user_id"]), int(body["message_id"]), str(body["data"]))
        return web.json_response({"update_id": update})

    async def calls(request: web.Request) -> web.Response:
        after = int(request.query.get("after", "0"))
        out = [{"method": c.method, "params": c.params} for c in api.calls[after:]]
        return web.json_response({"calls": out, "count": len(api.calls)}, dumps=_dumps)

    def add(app: web.Application) -> None:
        app.router.add_post("/_test/message", message)
        app.router.add_post("/_test/press", press)
        app.router.add_get("/_test/calls", calls)

    return add


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, default=str)


async def serve(host: str, port: int) -> None:
    api = FakeBotApi(os.environ["C2_TELEGRAM_BOT_TOKEN"])
    await api.start(host, port, routes(api))
    print(f"fake Bot API on {host}:{api.port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
