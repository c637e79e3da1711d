"""Configuration: masking, ``*_FILE`` secrets, one-line errors naming the variable, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import cli
from core.config import load_settings
from core.errors import ConfigError

ALPHA = str(Path(sys.executable).with_name("alpha"))
SECRETS = {
    "POSTGRES_PASSWORD": "pg-Secret-1a",
    "REDIS_PASSWORD": "redis-Secret-2b",
    "ALPHA_DB_OWNER_PASSWORD": "owner-Secret-3c",
    "ALPHA_DB_LISTENER_PASSWORD": "listener-Secret-4d",
    "ALPHA_DB_APP_PASSWORD": "app-Secret-5e",
    "ALPHA_DB_READONLY_PASSWORD": "ro-Secret-6f",
    "BYBIT_API_KEY": "bybit-Key-7g",
    "BYBIT_API_SECRET": "bybit-Secret-8h",
    "BYBIT_ACCOUNT_SECOND_API_KEY": "second-Key-9i",
    "BYBIT_ACCOUNT_SECOND_API_SECRET": "second-Secret-10j",
    "C2_TELEGRAM_BOT_TOKEN": "123456:tg-Token-11k",
}


def clean_env(**extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    return {**keep, **extra}


def alpha(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALPHA, *args], env=env, cwd=cwd, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An empty configuration environment in an empty directory (no stray .env)."""
    for name in list(os.environ):
        if name.startswith(("POSTGRES_", "PGBOUNCER_", "REDIS_", "ALPHA_", "BYBIT_", "C2_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("BOT_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_masks_every_secret(tmp_path: Path, as_json: bool) -> None:
    result = alpha("config", "show", *(["--json"] if as_json else []),
                   env=clean_env(**SECRETS), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name, value in SECRETS.items():
        assert value not in result.stdout + result.stderr, name
    assert result.stdout.count("**********") >= 9
    assert "second" in result.stdout  # the account is listed, its key is not


def test_repr_of_settings_has_no_secret(env: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        env.setenv(name, value)
    settings = load_settings()
    text = repr(settings) + str(settings) + repr(settings.accounts)
    for name, value in SECRETS.items():
        assert value not in text, name
    assert settings.account("second").api_key.get_secret_value() == "second-Key-9i"
    assert settings.db_roles.owner_password.get_secret_value() == "owner-Secret-3c"


def test_file_variants_are_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "pg").write_text("from-file-pw\n")
    (tmp_path / "key").write_text("acct-key")
    (tmp_path / "secret").write_text("acct-secret")
    env.setenv("POSTGRES_PASSWORD_FILE", str(tmp_path / "pg"))
    env.setenv("BYBIT_ACCOUNT_SUB_API_KEY_FILE", str(tmp_path / "key"))
    env.setenv("BYBIT_ACCOUNT_SUB_API_SECRET_FILE", str(tmp_path / "secret"))
    settings = load_settings()
    assert settings.postgres.password.get_secret_value() == "from-file-pw"
    assert settings.account("sub").api_secret.get_secret_value() == "acct-secret"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"POSTGRES_PORT": "abc"}, "POSTGRES_PORT: "),
        ({"POSTGRES_PORT": "70000"}, "POSTGRES_PORT: "),
        ({"REDIS_DB": "16"}, "REDIS_DB: "),
        ({"REDIS_CLUSTER_NODES": "10.0.0.2:6379"}, "REDIS_CLUSTER_NODES: Value error, only with"),
        (
            {"REDIS_CLUSTER": "true", "REDIS_CLUSTER_NODES": "10.0.0.2:6379,10.0.0.3"},
            "REDIS_CLUSTER_NODES: Value error, each node must be host:port",
        ),
        ({"BYBIT_ENV": "moon"}, "BYBIT_ENV: "),
        ({"C2_TELEGRAM_ADMIN_IDS": "1,x"}, "C2_TELEGRAM_ADMIN_IDS: "),
        ({"ALPHA_DB_ROLE_PREFIX": "Bad-Prefix"}, "ALPHA_DB_ROLE_PREFIX: "),
        ({"BOT_ID": "X"}, "BOT_ID"),
        ({"BYBIT_API_KEY": "only-half"}, "BYBIT_API_SECRET: not set"),
        ({"POSTGRES_PASSWORD": "a", "POSTGRES_PASSWORD_FILE": "/x"}, "set either POSTGRES_PASS"),
        ({"REDIS_PASSWORD_FILE": "/nonexistent/pw"}, "REDIS_PASSWORD_FILE: cannot read"),
    ],
)
def test_malformed_values_fail_with_one_line(
    env: pytest.MonkeyPatch, tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ConfigError) as failed:
        load_settings()
    assert message in str(failed.value) and "\n" not in str(failed.value)
    result = alpha("config", "show", env=clean_env(**variables), cwd=tmp_path)
    assert result.returncode == 78
    assert result.stderr.startswith("alpha: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for value in variables.values():
        if len(value) > 3 and not value.startswith("/"):
            assert value not in result.stderr  # the offending value may be a secret


def test_cluster_nodes_follow_the_configured_node(env: pytest.MonkeyPatch) -> None:
    env.setenv("REDIS_CLUSTER", "true")
    env.setenv("REDIS_HOST", "redis-a")
    env.setenv("REDIS_CLUSTER_NODES", "redis-b:7000, [fd00::3]:7001")
    settings = load_settings()
    assert settings.redis.cluster_addresses() == [
        ("redis-a", 6379), ("redis-b", 7000), ("fd00::3", 7001),
    ]  # fmt: skip


def test_dotenv_file_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("POSTGRES_PORT=5999\nREDIS_INFRA_DB=14\n")
    settings = load_settings()
    assert settings.postgres.port == 5999 and settings.redis.infra_db == 14


def test_help_lists_every_verb(tmp_path: Path) -> None:
    result = alpha("--help", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0
    tree = cli.build()
    top = next(a for a in tree.parser._actions if a.dest == "==SUPPRESS==" or a.choices)
    assert {"config", "db", "bots", "dev"} <= set(top.choices)
    for name in top.choices:
        assert f"\n    {name}" in result.stdout, name
    for group in ("db", "bots", "dev services"):
        sub = alpha(*group.split(), "--help", env=clean_env(), cwd=tmp_path)
        assert sub.returncode == 0
    bots_help = alpha("bots", "--help", env=clean_env(), cwd=tmp_path).stdout
    for verb in ("register", "list", "show", "pause", "resume", "retire"):
        assert f"\n    {verb}" in bots_help, verb


@pytest.mark.parametrize(
    "args", [["frobnicate"], ["bots", "frobnicate"], ["db", "upgrade", "a", "b"]]
)
def test_unknown_verb_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    result = alpha(*args, env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: alpha" in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [ALPHA, "config", "show"], env=clean_env(), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before alpha writes a byte
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert stderr == ""
