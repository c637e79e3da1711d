"""A bot process imports what a bot needs and nothing else (docs/fleet.md#what-a-bot-costs).

Fifty bots on one host pay every import fifty times. ``alpha run bot`` runs here as a
real subprocess, unchanged, with a ``sitecustomize`` on its path that writes
``sys.modules`` when the interpreter exits: every module loaded over the whole life of
the process (start-up, an entry, its protective orders, the stop's fill and the sibling
cancel, a clean stop). ``-X importtime`` would not do: it does not see modules loaded
through ``importlib.import_module``, which is how plugins and verbs are loaded. Nothing
of the charting, the C2's Telegram client and scheduler, the paper exchange's server,
or the SQL toolkit used by migrations and reports may be among them.
"""

from __future__ import annotations

import os
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from tests.bots.e2e.harness import MINUTE, SYMBOL, env_for, flat_bars, stack, wait
from tests.harness.services import alpha_command

#: Third-party packages a bot process must never import, and why each is elsewhere.
NOT_IN_A_BOT = {
    "matplotlib": "P&L charts: reports and the C2's /pnl",
    "numpy": "pulled in by matplotlib only",
    "aiohttp": "the paper exchange's server",
    "telegram": "the C2 (python-telegram-bot)",
    "httpx": "python-telegram-bot's HTTP client",
    "apscheduler": "the C2's and backup's schedules",
    "sqlalchemy": "migrations and reports; services connect with psycopg",
    "alembic": "migrations",
    "tqdm": "progress bars of backfills and dumps",
    "charset_normalizer": "requests' encoding guess; a bot reads JSON (bots/runtime/cli.py)",
    "chardet": "the same guess, the other detector requests can use",
}
#: Our own packages a bot must not load at all: ``alpha run bot`` builds only its own verb
#: (core/cli.py ``SOLE_VERBS``), not the tree of every package's ``cli`` registrar.
OTHER_SERVICES = ("paper_exchange", "telegram_c2", "websocket_listener", "trade_sync", "api",
                  "demo", "devenv")  # fmt: skip

CONFIG = {
    "ema_fast": 3,
    "ema_slow": 5,
    "exits": {
        SYMBOL: {
            "stop_loss_pct": "1.0",
            "take_profit_pct": "3.0",
            "trailing_distance_pct": "1.0",
            "trailing_activation_pct": "2.0",
        }
    },
}
QTY = Decimal("0.117")


def _bars():
    history = [(60000 + 10 * (i - 1), 60000 + 10 * i, 60000 + 10 * (i - 1), 60000 + 10 * i)
               for i in range(20)]  # fmt: skip
    live = [(60190, 60190, 59800, 59800)]  # bar 20: shortseller enters short
    live.append((59800, 60500, 59800, 60450))  # bar 21: through the stop (~60397.8)
    return history, [*live, *flat_bars(60450, 30)]


DUMP_AT_EXIT = """\
import atexit, os, sys

def _dump():
    with open(os.environ["IMPORTS_DUMP"], "w") as out:
        # A name mapped to None is one the process blocked: never loaded.
        out.write("\\n".join(sorted(n for n, m in sys.modules.items() if m is not None)))

atexit.register(_dump)
"""


def dumping_path(tmp: Path) -> Path:
    """A directory whose ``sitecustomize`` makes any Python started with it on
    ``PYTHONPATH`` write its module names to ``$IMPORTS_DUMP`` on exit."""
    site = tmp / "dump-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(DUMP_AT_EXIT)
    return site


def forbidden(modules: list[str]) -> list[str]:
    def service_code(module: str) -> bool:
        return module.partition(".")[0] in OTHER_SERVICES

    return sorted({m for m in modules if m.split(".")[0] in NOT_IN_A_BOT or service_code(m)})


def test_forbidden_catches_what_it_should():
    assert forbidden(["matplotlib.pyplot", "aiohttp", "paper_exchange.server.app"]) == [
        "aiohttp",
        "matplotlib.pyplot",
        "paper_exchange.server.app",
    ]
    assert forbidden(["telegram_c2.cli", "pybit", "sqlalchemyx"]) == ["telegram_c2.cli"]


@pytest.mark.slow
def test_a_trading_bot_process_imports_no_charting_server_or_sql_toolkit(database, redis, tmp_path):
    history, live = _bars()
    log = tmp_path / "bot.log"
    dump = tmp_path / "bot-modules.txt"
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("imp_bot", "imp", "shortseller", CONFIG, redis_db=None)
        env = env_for(s)
        path = [str(dumping_path(tmp_path)), env.get("PYTHONPATH", "")]
        env.update(PYTHONPATH=os.pathsep.join(filter(None, path)), IMPORTS_DUMP=str(dump))
        with log.open("w") as out:
            proc = subprocess.Popen(
                [*alpha_command(), "run", "bot", "imp_bot"], env=env, cwd=s.tmp,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        try:
            topic = f"kline.1.{SYMBOL}"
            wait(lambda: s._subscribers(topic) == 1 or proc.poll() is not None, 60, "subscribe")
            assert proc.poll() is None, log.read_text()[-3000:]
            s.ex.control.advance(MINUTE)  # bar 20 closes: the bot sells
            s.bar += 1
            wait(lambda: s.qty("imp_bot") == -QTY and len(s.open_orders("imp_bot")) == 2,
                 what="entry protected by a stop and a take profit")  # fmt: skip
            s.play(1)  # bar 21 runs through the stop
            wait(lambda: s.qty("imp_bot") == 0 and not s.open_orders("imp_bot"),
                 what="stopped out, take profit cancelled")  # fmt: skip
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the clean stop runs its own imports too
            proc.wait(30)
    assert proc.returncode == 0, log.read_text()[-3000:]
    modules = dump.read_text().split()
    # The log is real: the bot's own code and its exchange client are in it.
    assert "bots.shortseller" in modules and "pybit.unified_trading" in modules
    bad = sorted(
        {m.split(".")[0] if m.split(".")[0] in NOT_IN_A_BOT else m for m in forbidden(modules)}
    )
    assert bad == [], "a bot process imported: " + ", ".join(
        f"{m} ({NOT_IN_A_BOT.get(m, 'service code')})" for m in bad
    )
