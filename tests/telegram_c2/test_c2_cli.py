"""``alpha run c2`` as a subprocess: configuration errors are one line, and a live run
never logs the bot token."""

from __future__ import annotations

import asyncio
import signal

from c2_harness import ADMIN, TOKEN, run
from fake_bot_api import FakeBotApi
from harness.services import alpha_command


def _one_line_error(result, variable: str) -> None:
    assert result.returncode == 78, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("alpha: error: ") and variable in lines[0]
    assert "Traceback" not in result.stderr


def test_missing_token_fails_with_one_line(c2_env) -> None:
    result = c2_env.database.alpha("run", "c2", env={"C2_TELEGRAM_ADMIN_IDS": "1"}, timeout=60)
    _one_line_error(result, "C2_TELEGRAM_BOT_TOKEN")


def test_malformed_admin_ids_fail_with_one_line(c2_env) -> None:
    env = {"C2_TELEGRAM_BOT_TOKEN": TOKEN, "C2_TELEGRAM_ADMIN_IDS": "123,bob"}
    result = c2_env.database.alpha("run", "c2", env=env, timeout=60)
    _one_line_error(result, "C2_TELEGRAM_ADMIN_IDS")
    assert TOKEN not in result.stderr


def test_live_run_answers_and_never_logs_the_token(c2_env) -> None:
    async def scenario() -> tuple[int, str]:
        api = FakeBotApi(TOKEN)
        base = await api.start()
        env = {
            **c2_env.env(),
            "C2_TELEGRAM_BOT_TOKEN": TOKEN,
            "C2_TELEGRAM_ADMIN_IDS": str(ADMIN),
            "C2_TELEGRAM_API_BASE_URL": base,
            "ALPHA_HTTP_PORT": "0",
            "ALPHA_LOG_LEVEL": "DEBUG",  # the most talkative setting must still be clean
        }
        proc = await asyncio.create_subprocess_exec(
            *alpha_command(), "run", "c2", env=env, cwd="/",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await api.wait_for(lambda c: c.method == "setMyCommands", timeout=30)
            while api.polls == 0:
                await asyncio.sleep(0.05)
            mark = len(api.calls)
            api.message(ADMIN, "/help")
            reply = await api.reply_to(ADMIN, after=mark, timeout=30)
            assert "/pause BOT|all" in reply.params["text"]
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            await api.stop()
        return proc.returncode or 0, (out + err).decode()

    code, output = run(scenario(), timeout=90)
    assert code == 0, output
    assert "c2 running as @alpha_c2_bot" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
