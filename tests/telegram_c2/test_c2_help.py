"""/help lists only what the user's level may run, grouped read / control / dangerous."""

from __future__ import annotations

from c2_harness import ADMIN, VIEWER, run, running_c2

from telegram_c2.access import Level
from telegram_c2.commands import ALL, danger


def test_help_is_grouped_and_shows_each_level_its_own_commands(c2_env) -> None:
    async def scenario() -> tuple[str, str]:
        async with running_c2(c2_env) as c2:
            admin = (await c2.send(ADMIN, "/help")).params["text"]
            viewer = (await c2.send(VIEWER, "/help")).params["text"]
            return admin, viewer

    admin, viewer = run(scenario())
    assert [line for line in admin.splitlines() if line.endswith(":")] == [
        "Read:",
        "Control:",
        "Dangerous (confirm):",
    ]
    for c in ALL:
        assert f"\n{c.usage} — " in admin or admin.startswith(f"{c.usage} — "), c.name
    dangerous = admin.split("Dangerous (confirm):\n")[1].splitlines()
    assert [line.split()[0] for line in dangerous] == [f"/{c.name}" for c in danger.COMMANDS]
    control = admin.split("Control:\n")[1].split("\n\n")[0]
    assert "/stopentry BOT|all — alias of /pause" in control
    assert "/forceexit" not in control

    assert "Control:" not in viewer and "Dangerous" not in viewer
    assert viewer.endswith("(read-only access)")
    for c in ALL:
        shown = f"{c.usage} — " in viewer
        assert shown is (c.level is Level.READ), c.name
    for name in ("/profit", "/daily", "/weekly", "/monthly", "/performance", "/trades",
                 "/count", "/balance", "/stats", "/version", "/positions"):  # fmt: skip
        assert f"\n{name}" in viewer, name
