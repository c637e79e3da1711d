"""The production compose file, .env.example and Dockerfile, checked without Docker.

Each rule in ``deploy/compose_check.py`` and ``deploy/dockerfile_check.py`` runs on the
real files (must pass) and on a deliberately broken copy (must fail with a message naming
the problem), so none of these tests can pass by checking nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import compose_check as rules
from deploy import compose_file, dockerfile_check

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.production.yml"

BOTS = {
    "shortseller": ("shortseller_001", "0"),
    "lxalgo": ("lxalgo_001", "1"),
    "momentum": ("momentum_001", "2"),
    "orderblock": ("orderblock_001", "3"),
}


def compose_text() -> str:
    return COMPOSE.read_text(encoding="utf-8")


def broken(tmp_path: Path, old: str, new: str, *, count: int = 1) -> dict[str, Any]:
    """A copy of the compose file with ``old`` replaced by ``new`` exactly ``count`` times."""
    text = compose_text()
    assert text.count(old) == count, f"the fixture text {old!r} moved; update the test"
    copy = tmp_path / "docker-compose.production.yml"
    copy.write_text(text.replace(old, new), encoding="utf-8")
    return compose_file.load(copy)


# --- the real files pass --------------------------------------------------------------


def test_compose_parses_with_safe_load() -> None:
    data = yaml.safe_load(compose_text())
    assert isinstance(data, dict)
    assert {"postgres", "pgbouncer", "redis", "migrate", "websocket_listener"} <= set(
        data["services"]
    )


@pytest.mark.parametrize("check", rules.ALL_CHECKS, ids=lambda c: c.__name__)
def test_real_compose_passes(check: Callable[[dict[str, Any]], list[str]]) -> None:
    assert check(compose_file.load(COMPOSE)) == []


def test_the_four_bots_have_the_specified_ids_and_redis_dbs() -> None:
    compose = compose_file.load(COMPOSE)
    found = {
        name: (compose_file.environment(svc)["BOT_ID"], compose_file.environment(svc)["REDIS_DB"])
        for name, svc in compose_file.bots(compose).items()
    }
    assert found == BOTS
    assert set(compose_file.registrations(compose)) == {bot_id for bot_id, _ in BOTS.values()}


def test_every_app_service_is_classified() -> None:
    """A new service must be seen by the rules (else they would silently skip it)."""
    compose = compose_file.load(COMPOSE)
    pooled = set(compose_file.pooled_services(compose))
    assert {"websocket_listener", "trade_sync", "telegram_c2", "api", "collector", *BOTS} == pooled
    assert {"migrate", "bootstrap", "backup", "paper_exchange"} | pooled == set(
        compose_file.alpha_services(compose)
    )


def test_profiles() -> None:
    services = compose_file.load(COMPOSE)["services"]
    assert services["paper_exchange"]["profiles"] == ["paper"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    assert all("profiles" not in s for n, s in services.items() if n not in {
        "paper_exchange", "prometheus", "grafana"})  # fmt: skip


def test_redis_is_durable_and_never_evicts() -> None:
    redis = compose_file.load(COMPOSE)["services"]["redis"]
    script = " ".join(redis["command"])
    for setting in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert setting in script
    assert redis["entrypoint"] == ["/bin/sh", "/etc/redis/alpha/entrypoint.sh"]
    assert "./deploy/redis:/etc/redis/alpha:ro" in redis["volumes"]
    assert redis["user"] == "redis"  # not root
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])


def test_pgbouncer_config_pools_per_role_in_transaction_mode() -> None:
    ini = (ROOT / "deploy/pgbouncer/pgbouncer.ini").read_text()
    assert "\npool_mode = transaction\n" in ini
    for role in ("alpha_listener", "alpha_app", "alpha_readonly"):
        assert f"\n{role} = max_user_connections=" in ini


def test_env_example_covers_every_interpolated_variable() -> None:
    example = (ROOT / ".env.example").read_text()
    assert rules.check_env_example(compose_text(), example) == []
    assert "BYBIT_ENV" in rules.interpolated_variables(compose_text())


def test_dockerfile_is_multi_stage_non_root_without_compilers() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = dockerfile_check.dockerfile_stages(text)
    assert [s.name for s in stages] == ["build", "runtime"]
    assert dockerfile_check.check_dockerfile(text) == []


def test_dockerfile_that_needs_buildkit_or_downloads_is_refused() -> None:
    text = (ROOT / "Dockerfile").read_text()
    problems = dockerfile_check.check_dockerfile("# syntax=docker/dockerfile:1.7\n" + text)
    assert problems == [
        "Dockerfile: a '# syntax=' line needs BuildKit; the classic builder must be able to"
        " build it"
    ]
    fetching = text.replace(
        "USER 10001:10001", "RUN curl -fsSL https://example.org/key.asc > /tmp/k\nUSER 10001:10001"
    )
    assert any("downloads at build time" in p for p in dockerfile_check.check_dockerfile(fetching))


# --- broken copies fail, naming the problem --------------------------------------------


def test_schema_rejects_an_invalid_file(tmp_path: Path) -> None:
    compose = broken(tmp_path, "    shm_size: 256m\n", "    shm_size: 256m\n    restartt: always\n")
    problems = rules.check_schema(compose)
    assert any("services/postgres" in p and "restartt" in p for p in problems), problems


def test_duplicate_redis_db_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, 'REDIS_DB: "1"', 'REDIS_DB: "0"')
    problems = rules.check_bots(compose)
    assert any("duplicate REDIS_DB 0" in p and "lxalgo" in p for p in problems), problems


def test_duplicate_bot_id_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, "BOT_ID: lxalgo_001", "BOT_ID: shortseller_001")
    problems = rules.check_bots(compose)
    assert any("duplicate BOT_ID shortseller_001" in p for p in problems), problems


BOT_INTERVAL = "${BOT_HEALTHCHECK_INTERVAL:-60s}"


def test_bot_health_checked_every_15_seconds_fails(tmp_path: Path) -> None:
    # The interval the bots inherited until fifty containers' checks were measured.
    compose = broken(tmp_path, BOT_INTERVAL, "${BOT_HEALTHCHECK_INTERVAL:-15s}")
    problems = rules.check_bots(compose)
    assert len(problems) == 4, problems
    assert all("health check every ${BOT_HEALTHCHECK_INTERVAL:-15s}" in p for p in problems)
    assert {p.split(":")[0] for p in problems} == set(BOTS)


def test_bot_health_check_interval_must_be_a_duration(tmp_path: Path) -> None:
    compose = broken(tmp_path, BOT_INTERVAL, "${BOT_HEALTHCHECK_INTERVAL:-1 minute}")
    problems = rules.check_bots(compose)
    assert any("not a compose duration: '1 minute'" in p for p in problems), problems


def test_app_service_bypassing_pgbouncer_fails(tmp_path: Path) -> None:
    old = "      SYNC_EXECUTION_AUDIT_SECONDS: ${SYNC_EXECUTION_AUDIT_SECONDS:-60}\n"
    compose = broken(tmp_path, old, old + "      POSTGRES_HOST: postgres\n")
    problems = rules.check_pgbouncer(compose)
    assert problems == ["trade_sync: bypasses PgBouncer (POSTGRES_HOST is set; use PGBOUNCER_HOST)"]


def test_app_services_pointed_past_pgbouncer_fail(tmp_path: Path) -> None:
    compose = broken(tmp_path, "PGBOUNCER_HOST: pgbouncer", "PGBOUNCER_HOST: postgres")
    problems = rules.check_pgbouncer(compose)
    # The anchor is shared: every pooled service is named.
    assert len(problems) == 9 and all("PGBOUNCER_HOST must be pgbouncer" in p for p in problems)


def test_unknown_variable_fails(tmp_path: Path) -> None:
    old = "      BOT_ID: momentum_001\n"
    compose = broken(tmp_path, old, old + "      BYBIT_APIKEY: oops\n")
    problems = rules.check_variables(compose)
    assert problems == ["momentum: unknown variable BYBIT_APIKEY (core.config does not read it)"]


def test_unknown_variable_in_an_exchange_env_file_fails(tmp_path: Path) -> None:
    for path in (ROOT / "deploy/exchange").glob("*.env"):
        (tmp_path / "deploy/exchange").mkdir(parents=True, exist_ok=True)
        (tmp_path / "deploy/exchange" / path.name).write_text(path.read_text())
    with (tmp_path / "deploy/exchange/paper.env").open("a") as f:
        f.write("BYBIT_RESTURL=http://paper-exchange:8480\n")
    problems = rules.check_env_files(compose_file.load(COMPOSE), tmp_path)
    assert problems == ["paper.env: unknown variable BYBIT_RESTURL"]


def test_paper_exchange_url_outside_the_compose_network_fails(tmp_path: Path) -> None:
    # The real file passes only because the exchange's network alias counts as a host.
    for path in (ROOT / "deploy/exchange").glob("*.env"):
        (tmp_path / "deploy/exchange").mkdir(parents=True, exist_ok=True)
        text = path.read_text().replace("ws://paper-exchange:", "ws://elsewhere:")
        (tmp_path / "deploy/exchange" / path.name).write_text(text)
    problems = rules.check_env_files(compose_file.load(COMPOSE), tmp_path)
    assert problems == ["paper.env: BYBIT_WS_URL points at 'elsewhere', not a compose service"]


def test_bot_not_registered_by_bootstrap_fails(tmp_path: Path) -> None:
    line = "        register orderblock_001 --type orderblock --code ob1 --account orderblock"
    compose = broken(tmp_path, line, "        true")
    problems = rules.check_bootstrap(compose)
    assert problems == ["orderblock: BOT_ID orderblock_001 is not registered by the bootstrap"]


def test_registration_with_another_redis_db_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, "--account momentum --redis-db 2", "--account momentum --redis-db 5")
    problems = rules.check_bootstrap(compose)
    assert any("momentum" in p and "--redis-db 5" in p for p in problems), problems


def test_a_bot_in_the_shared_redis_db_needs_no_redis_db_on_either_side(tmp_path: Path) -> None:
    # Registered without --redis-db (keys in the shared DB 0) and no REDIS_DB: consistent.
    text = compose_text().replace(" --redis-db 2 ", " ").replace('      REDIS_DB: "2"\n', "")
    copy = tmp_path / "docker-compose.production.yml"
    copy.write_text(text, encoding="utf-8")
    compose = compose_file.load(copy)
    assert rules.check_bots(compose) == [] and rules.check_bootstrap(compose) == []
    # Only one side changed: named.
    compose = broken(tmp_path, " --redis-db 2 ", " ")
    problems = rules.check_bootstrap(compose)
    assert any("REDIS_DB 2" in p and "momentum_001 without --redis-db" in p for p in problems)


def test_missing_healthcheck_fails(tmp_path: Path) -> None:
    old = '      test: ["CMD", "/bin/sh", "/etc/pgbouncer/alpha/healthcheck.sh"]\n'
    compose = broken(tmp_path, old, "      disable: true\n")
    assert "pgbouncer: long-running service without a healthcheck" in rules.check_operations(
        compose
    )


def test_missing_memory_limit_and_log_rotation_fail(tmp_path: Path) -> None:
    text = compose_text()
    redis_block = text[text.index("  redis:\n") : text.index("  # --- Alpha services")]
    stripped = redis_block.replace(
        "    deploy:\n      resources:\n        limits:\n          memory: 512M\n", ""
    ).replace("    logging: *logging\n", "")
    compose = broken(tmp_path, redis_block, stripped)
    problems = rules.check_operations(compose)
    assert "redis: no memory limit" in problems
    assert "redis: no log rotation (json-file with max-size and max-file)" in problems


def test_depending_on_a_one_shot_without_completion_fails(tmp_path: Path) -> None:
    old = "      migrate:\n        condition: service_completed_successfully\n      redis:\n"
    compose = broken(
        tmp_path, old, old.replace("service_completed_successfully", "service_started")
    )
    problems = rules.check_operations(compose)
    assert problems == [
        "bootstrap: depends_on migrate should use condition service_completed_successfully"
    ]


def test_literal_secret_fails(tmp_path: Path) -> None:
    old = "C2_TELEGRAM_BOT_TOKEN: ${C2_TELEGRAM_BOT_TOKEN:?set C2_TELEGRAM_BOT_TOKEN in .env}"
    compose = broken(tmp_path, old, "C2_TELEGRAM_BOT_TOKEN: 123:abc")
    problems = rules.check_secrets(compose)
    assert problems == [
        "telegram_c2: C2_TELEGRAM_BOT_TOKEN is a literal in the compose file; "
        "use ${C2_TELEGRAM_BOT_TOKEN}"
    ]


def test_backups_inside_the_repository_fail(tmp_path: Path) -> None:
    compose = broken(tmp_path, "      - backups:/backups\n", "      - ./backups:/backups\n")
    assert rules.check_backup_volume(compose) == [
        "backup: backups on './backups', inside the repository"
    ]


def test_env_example_missing_a_variable_fails() -> None:
    example = (ROOT / ".env.example").read_text().replace("\nREDIS_PASSWORD=change-me\n", "\n")
    assert rules.check_env_example(compose_text(), example) == [
        ".env.example: REDIS_PASSWORD is interpolated by the compose file but not documented"
    ]


def test_dockerfile_running_as_root_fails() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in text
    problems = dockerfile_check.check_dockerfile(text.replace("USER 10001:10001", "USER root"))
    assert problems == ["Dockerfile: final stage runtime runs as root"]
    problems = dockerfile_check.check_dockerfile(text.replace("USER 10001:10001\n", ""))
    assert problems == ["Dockerfile: final stage runtime has no USER (runs as root)"]


def test_dockerfile_with_a_compiler_in_the_final_stage_fails() -> None:
    text = (ROOT / "Dockerfile").read_text()
    old = "install -y --no-install-recommends python3 python3-venv postgresql-client-15"
    assert text.count(old) == 1
    problems = dockerfile_check.check_dockerfile(text.replace(old, old + " gcc"))
    assert problems == ["Dockerfile: final stage installs compiler gcc"]


def test_the_paper_exchange_lists_every_symbol_production_registers() -> None:
    """The rehearsal found Momentum restarting forever: the paper exchange refused
    LINKUSDT, one of the symbols the bootstrap registers by default."""
    from paper_exchange.engine.instruments import DEFAULT_INSTRUMENTS

    listed = {instrument.symbol for instrument in DEFAULT_INSTRUMENTS}
    for bot_id, flags in compose_file.registrations(compose_file.load(COMPOSE)).items():
        missing = set(flags["symbols"].split(",")) - listed
        assert not missing, f"{bot_id} registers symbols the paper exchange lacks: {missing}"


def test_no_secret_is_passed_on_a_command_line() -> None:
    """A command line is visible to `ps` and `docker inspect`; the paper exchange's
    account secrets once were."""
    import re

    # ${X_SECRET} is compose putting the value itself there; $$X (a shell variable read
    # inside the container) is not.
    interpolated = re.compile(r"(?<!\$)\$\{?\w*(SECRET|PASSWORD|TOKEN)")
    for name, svc in compose_file.load(COMPOSE)["services"].items():
        words = svc.get("command") or []
        text = words if isinstance(words, str) else " ".join(words)
        assert not interpolated.search(text), f"{name}: {interpolated.search(text)}"


def test_a_bot_logging_in_as_another_bot_fails(tmp_path: Path) -> None:
    compose = broken(
        tmp_path, "REDIS_USERNAME: bot-lxalgo_001", "REDIS_USERNAME: bot-shortseller_001"
    )
    problems = rules.check_redis_users(compose)
    assert problems == [
        "lxalgo: REDIS_USERNAME must be 'bot-lxalgo_001' (its own ACL user), "
        "got 'bot-shortseller_001'"
    ], problems


def test_a_service_on_the_operator_login_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, "      REDIS_USERNAME: c2\n", "")
    problems = rules.check_redis_users(compose)
    assert problems == ["telegram_c2: REDIS_USERNAME must be 'c2' (its own ACL user), got None"]


def test_a_bot_redis_does_not_know_fails(tmp_path: Path) -> None:
    compose = broken(
        tmp_path, "REDIS_BOTS: shortseller_001 lxalgo_001", "REDIS_BOTS: shortseller_001"
    )
    problems = rules.check_redis_users(compose)
    assert problems == ["redis: REDIS_BOTS does not list lxalgo_001 (service lxalgo)"], problems


def test_the_image_holds_every_package_the_project_ships() -> None:
    """A package pyproject.toml ships but the Dockerfile never copies is missing from the
    image: `alpha run api` once answered "invalid choice" in the rehearsal's container."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and not line.startswith("COPY --")
    }
    assert sorted(shipped - copied) == []


# --- the collector ---------------------------------------------------------------------

COLLECTED = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT,LINKUSDT,AVAXUSDT,BNBUSDT,ADAUSDT,LTCUSDT"


def test_the_collector_runs_in_production_as_its_own_role_through_pgbouncer() -> None:
    """Always on (no profile: production and the paper rehearsal), restarted, limited,
    health-checked on /healthz, scraped by Prometheus, logged in as alpha_collector and
    nothing else (no Redis, no API key)."""
    compose = compose_file.load(COMPOSE)
    svc = compose["services"]["collector"]
    assert "profiles" not in svc and svc["restart"] == "unless-stopped"
    assert svc["deploy"]["resources"]["limits"]["memory"]
    assert "/healthz" in " ".join(svc["healthcheck"]["test"])
    env = compose_file.environment(svc)
    assert env["PGBOUNCER_HOST"] == "pgbouncer"
    assert [v for v in env if "PASSWORD" in v or "API_" in v] == ["ALPHA_DB_COLLECTOR_PASSWORD"]
    assert compose_file.collected(svc) == (COLLECTED.split(","), ["5", "15", "240"])
    # migrate gives the role its password; PgBouncer lets it in.
    for one in ("migrate", "pgbouncer"):
        assert "ALPHA_DB_COLLECTOR_PASSWORD" in compose_file.environment(compose["services"][one])
    prometheus = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    assert '"collector:9100"' in prometheus


def test_a_registered_symbol_the_collector_misses_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, "${COLLECTOR_SYMBOLS:-" + COLLECTED, "${COLLECTOR_SYMBOLS:-BTCUSDT")
    problems = rules.check_collector(compose)
    assert "collector: does not collect ETHUSDT, SOLUSDT (shortseller_001 trades it)" in problems
    assert any(
        p.startswith("collector: does not collect ETHUSDT, SOLUSDT, XRPUSDT, DOGEUSDT, LINKUSDT")
        and "momentum_001" in p
        for p in problems
    ), problems


def test_an_interval_a_bot_trades_that_the_collector_misses_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, "${COLLECTOR_INTERVALS:-5,15,240}", "${COLLECTOR_INTERVALS:-5,15}")
    assert rules.check_collector(compose) == [
        "collector: does not collect interval 240 (momentum_001, momentum, trades it)"
    ]


def test_no_collector_fails(tmp_path: Path) -> None:
    compose = broken(tmp_path, "      - data\n      - collect\n", "      - run\n      - collect\n")
    assert rules.check_collector(compose) == [
        "0 collector services (alpha data collect); want exactly one"
    ]


def test_a_role_pgbouncer_does_not_know_fails(tmp_path: Path) -> None:
    """The collector's login must reach PgBouncer's auth file: its password in PgBouncer's
    environment, its role in the entrypoint's list and a cap in the ini."""
    line = "      ALPHA_DB_COLLECTOR_PASSWORD: ${ALPHA_DB_COLLECTOR_PASSWORD:?set "
    text = compose_text()
    start = text.index("  pgbouncer:\n    image:")
    cut = text.index(line, start)
    end = text.index("\n", cut) + 1
    copy = tmp_path / "docker-compose.production.yml"
    copy.write_text(text[:cut] + text[end:], encoding="utf-8")
    problems = rules.check_pgbouncer(compose_file.load(copy))
    assert problems == ["collector: pgbouncer's environment lacks ALPHA_DB_COLLECTOR_PASSWORD"]

    deploy = tmp_path / "repo"
    (deploy / "deploy").mkdir(parents=True)
    import shutil

    shutil.copytree(ROOT / "deploy/pgbouncer", deploy / "deploy/pgbouncer")
    entry = deploy / "deploy/pgbouncer/entrypoint.sh"
    entry.write_text(entry.read_text().replace(" collector readonly;", " readonly;"))
    ini = deploy / "deploy/pgbouncer/pgbouncer.ini"
    ini.write_text(ini.read_text().replace("alpha_collector = ", "alpha_collectr = "))
    problems = rules.check_pgbouncer(compose_file.load(COMPOSE), deploy)
    assert problems == [
        "collector: deploy/pgbouncer/entrypoint.sh writes no collector login",
        "collector: deploy/pgbouncer/pgbouncer.ini has no alpha_collector cap",
    ]
