"""The Bot API token never reaches any output, even when the Bot API rejects it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_PART = "SeCrEtToKeNvalue"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_rejected_token_is_one_line_without_the_token(c2_env) -> None:
    """PTB's InvalidToken quotes the token; it used to be printed in a traceback."""
    port = _free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.telegram_c2.fake_bot_api_server", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "C2_TELEGRAM_BOT_TOKEN": "111:the-right-token"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_test/calls", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "the fake Bot API did not start"
                time.sleep(0.2)
        result = c2_env.database.alpha(
            "run", "c2",
            env={"C2_TELEGRAM_BOT_TOKEN": f"222:{SECRET_PART}",
                 "C2_TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}",
                 "C2_TELEGRAM_ADMIN_IDS": "1", "ALPHA_HTTP_PORT": "0",
                 "ALPHA_LOG_LEVEL": "DEBUG"},
            timeout=60,
        )  # fmt: skip
    finally:
        fake.terminate()
        fake.wait(10)
    output = result.stdout + result.stderr
    assert SECRET_PART not in output
    assert result.returncode != 0 and "Traceback" not in output
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("alpha: error: C2_TELEGRAM_BOT_TOKEN: the Bot API rejected the token")
    )
