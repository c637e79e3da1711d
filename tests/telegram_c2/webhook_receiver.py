"""A local HTTP server standing in for a notification channel: it records what Apprise's
``json://`` plugin posts, and can be told to answer with an error (a channel that is down)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        #: Requests answered with an error while the receiver was "down".
        self.refused = 0
        self.status = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.status
                    if status == 200:
                        receiver.posts.append(json.loads(body))
                        receiver.paths.append(self.path)
                    else:
                        receiver.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, token: str) -> str:
        """An Apprise URL posting JSON here, with ``token`` in its path as a webhook's is."""
        return f"json://127.0.0.1:{self.port}/hook/{token}"

    def go_down(self) -> None:
        self.status = 503

    def come_back(self) -> None:
        self.status = 200

    def messages(self) -> list[str]:
        with self._lock:
            return [str(post["message"]) for post in self.posts]

    async def wait_for(self, count: int, timeout: float = 10) -> list[str]:
        """The messages once there are at least ``count`` (the C2 runs on this loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages()) >= count:
                return self.messages()
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} posts, got {self.messages()}")
