"""The Swarm stack files against the production compose file, without Docker.

deploy/swarm/*.yml are generated from docker-compose.production.yml; these tests keep
the committed files equal to what the generator writes, and check that the translation
keeps what matters (services, images, commands, environment, limits, healthchecks,
networks) while dropping what ``docker stack deploy`` refuses or ignores. The proof that
the files deploy and survive a listener kill is ``python -m deploy.swarm`` (CI).
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import is_known_variable
from deploy import compose_file
from deploy.swarm import generate, proof
from paper_exchange.accounts import account_texts, parse_account

SWARM = Path(generate.__file__).resolve().parent
PRODUCTION = compose_file.load()
ALPHA_IMAGE = PRODUCTION["services"]["websocket_listener"]["image"]
#: What a service of a stack file may hold: everything else Swarm refuses or ignores.
SWARM_KEYS = set(generate.KEPT) | {
    "env_file",
    "environment",
    "secrets",
    "configs",
    "volumes",
    "networks",
    "deploy",
}


def stack(name: str) -> dict[str, Any]:
    return yaml.safe_load((SWARM / name).read_text(encoding="utf-8"))


STACKS = {name: stack(name) for name in generate.FILES}
SERVICES = {s: spec for content in STACKS.values() for s, spec in content["services"].items()}


def profile_of(service: dict[str, Any]) -> str:
    return (service.get("profiles") or [""])[0]


def test_the_committed_files_are_what_the_generator_writes() -> None:
    for name, text in generate.generated().items():
        assert (SWARM / name).read_text(encoding="utf-8") == text, f"regenerate {name}"
    assert generate.main(["--check"]) == 0


def test_a_change_to_the_compose_file_changes_the_stack() -> None:
    changed = copy.deepcopy(PRODUCTION)
    changed["services"]["websocket_listener"]["deploy"]["resources"]["limits"]["memory"] = "1G"
    listener = generate.stack_files(changed)["stack.yml"]["services"]["websocket_listener"]
    assert listener["deploy"]["resources"]["limits"]["memory"] == "1G"
    assert generate.render(generate.stack_files(changed)["stack.yml"]) != (
        SWARM / "stack.yml"
    ).read_text(encoding="utf-8")


def test_a_key_without_a_swarm_translation_stops_the_generator() -> None:
    changed = copy.deepcopy(PRODUCTION)
    changed["services"]["redis"]["pid"] = "host"
    with pytest.raises(ValueError, match=r"redis: no Swarm translation for \['pid'\]"):
        generate.stack_files(changed)


def test_same_services_each_in_the_file_of_its_profile() -> None:
    assert set(SERVICES) == set(PRODUCTION["services"])
    for file_name, profile in generate.FILES.items():
        expected = {s for s, spec in PRODUCTION["services"].items() if profile_of(spec) == profile}
        assert set(STACKS[file_name]["services"]) == expected, file_name


@pytest.mark.parametrize("name", sorted(PRODUCTION["services"]))
def test_what_a_service_runs_is_unchanged(name: str) -> None:
    prod, swarm = PRODUCTION["services"][name], SERVICES[name]
    for key in (
        "image",
        "entrypoint",
        "user",
        "init",
        "read_only",
        "cap_drop",
        "stop_grace_period",
        "logging",
    ):
        assert swarm.get(key) == prod.get(key), f"{name}: {key}"
    assert swarm.get("command") == prod.get("command")
    assert swarm["networks"] == prod["networks"]
    limits = swarm["deploy"]["resources"]["limits"]
    assert limits == prod["deploy"]["resources"]["limits"]


@pytest.mark.parametrize("name", sorted(PRODUCTION["services"]))
def test_healthchecks_are_the_same_reading_secrets_from_files(name: str) -> None:
    prod, swarm = PRODUCTION["services"][name], SERVICES[name]
    assert ("healthcheck" in swarm) == ("healthcheck" in prod)
    if "healthcheck" not in prod:
        return
    # The only change allowed: "$$VAR" read from the secret's file.
    text = yaml.safe_dump(swarm["healthcheck"])
    back = re.sub(r'\$\$\(cat "\$\$([A-Z_]+)_FILE"\)', r"$$\1", text)
    assert yaml.safe_load(back) == prod["healthcheck"]


@pytest.mark.parametrize("name", sorted(PRODUCTION["services"]))
def test_every_variable_is_kept_and_every_secret_is_a_swarm_secret(name: str) -> None:
    prod_env = compose_file.environment(PRODUCTION["services"][name])
    swarm = SERVICES[name]
    swarm_env = compose_file.environment(swarm)
    declared = next(c for c in STACKS.values() if name in c["services"]).get("secrets") or {}
    names = set()
    for var, value in prod_env.items():
        refs = generate.secret_refs(value)
        if refs and not all(rest.startswith(":-") for _, rest in refs):
            file_var = generate.file_var(var)
            assert var not in swarm_env, f"{name}: {var} still in the environment"
            secret = swarm_env[file_var].removeprefix("/run/secrets/")
            assert secret in swarm["secrets"] and declared[secret] == {"external": True}
            names.add(file_var)
        else:
            assert swarm_env[var] == value, f"{name}: {var}"
            names.add(var)
    assert set(swarm_env) == names
    for value in swarm_env.values():  # no secret is interpolated into a service's spec
        assert all(rest.startswith(":-") for _, rest in generate.secret_refs(value)), value
    if swarm["image"] == ALPHA_IMAGE:
        unknown = [v for v in swarm_env if not is_known_variable(v)]
        assert not unknown, f"{name}: core.config does not read {unknown}"


def test_nothing_swarm_ignores_is_left() -> None:
    for content in STACKS.values():
        assert set(content) <= {"version", "services", "networks", "volumes", "secrets", "configs"}
        assert content["version"].startswith("3.")
        for name, spec in content["services"].items():
            assert set(spec) <= SWARM_KEYS, f"{name}: {set(spec) - SWARM_KEYS}"
            for volume in spec.get("volumes") or []:
                assert isinstance(volume, dict) or not str(volume).startswith(("./", "/")), name


def test_one_shots_restart_on_failure_the_rest_always_one_replica_each() -> None:
    one_shots = {n for n, s in PRODUCTION["services"].items() if s.get("restart") == "no"}
    assert one_shots == set(proof.ONE_SHOTS)
    for name, spec in SERVICES.items():
        deploy = spec["deploy"]
        assert deploy["mode"] == "replicated" and deploy["replicas"] == 1, name
        expected = "on-failure" if name in one_shots else "any"
        assert deploy["restart_policy"]["condition"] == expected, name
        assert deploy["update_config"]["order"] == "stop-first", name
        assert deploy["endpoint_mode"] == "dnsrr", name  # no IPVS needed on the nodes


def test_stateful_services_stay_on_the_data_node_the_listener_does_not() -> None:
    pinned = {n for n, s in SERVICES.items() if "placement" in s["deploy"]}
    assert {"postgres", "redis", "backup", "migrate", "prometheus", "grafana"} <= pinned
    assert not pinned & {"websocket_listener", "trade_sync", "telegram_c2", "shortseller"}
    for name in pinned:
        constraints = SERVICES[name]["deploy"]["placement"]["constraints"]
        assert constraints == [generate.DATA_NODE_CONSTRAINT]


def test_networks_are_overlays_backend_internal() -> None:
    networks = STACKS["stack.yml"]["networks"]
    assert networks["backend"] == {"driver": "overlay", "attachable": True, "internal": True}
    assert networks["egress"] == {"driver": "overlay", "attachable": True}
    aliases = SERVICES["paper_exchange"]["networks"]["egress"]["aliases"]
    assert aliases == ["paper-exchange"]


def test_config_files_exist_and_cover_each_mounted_directory() -> None:
    for content in STACKS.values():
        for name, config in (content.get("configs") or {}).items():
            assert (SWARM / config["file"]).is_file(), name
    targets = {c["target"] for c in SERVICES["pgbouncer"]["configs"]}
    assert targets == {
        f"/etc/pgbouncer/alpha/{p.name}"
        for p in (compose_file.ROOT / "deploy/pgbouncer").iterdir()
        if p.name not in generate.NOT_MOUNTED
    }
    datasource = SWARM / "configs/grafana/provisioning/datasources/alpha.yml"
    text = datasource.read_text(encoding="utf-8")
    assert "$__file{/run/secrets/alpha_db_readonly_password}" in text
    assert "${ALPHA_DB_READONLY_PASSWORD}" not in text


def test_secret_values_render_from_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {var: f"value-of-{var}" for var in _secret_variables()}
    templates = generate.secret_templates(PRODUCTION)
    assert set(proof.deployed_secrets()) <= set(templates)
    assert generate.render_secret(templates["alpha_db_app_password"], env) == (
        "value-of-ALPHA_DB_APP_PASSWORD"
    )
    # The paper exchange reads the accounts secret's file as it would in the stack.
    secret = tmp_path / "paper_accounts"
    secret.write_text(generate.render_secret(templates["paper_accounts"], env), encoding="utf-8")
    monkeypatch.delenv("PAPER_ACCOUNTS", raising=False)
    monkeypatch.setenv("PAPER_ACCOUNTS_FILE", str(secret))
    parsed = [parse_account(t) for t in account_texts(argparse.Namespace(account=None))]
    assert [p[0] for p in parsed] == ["main", "momentum", "orderblock"]
    assert parsed[0][1:3] == ("value-of-MAIN_READ_API_KEY", "value-of-MAIN_READ_API_SECRET")


def test_the_secrets_listing_names_every_deployed_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert generate.main(["--secrets"]) == 0
    listed = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert set(proof.deployed_secrets()) <= set(listed)
    assert (
        listed["alpha_db_app_password"]
        == "${ALPHA_DB_APP_PASSWORD:?set ALPHA_DB_APP_PASSWORD in .env}"
    )


def _secret_variables() -> set[str]:
    found = set()
    for spec in PRODUCTION["services"].values():
        for value in compose_file.environment(spec).values():
            found |= {var for var, _ in generate.secret_refs(value)}
    return found


def test_the_two_node_proof_only_pins_services_of_the_stack_to_the_data_node() -> None:
    """two_nodes.yml (``scripts/swarm-rehearse --second-node``) adds placement only,
    for services the stack files have: it must not change what is deployed."""
    extra = stack("two_nodes.yml")["services"]
    assert extra and set(extra) <= set(SERVICES)
    for spec in extra.values():
        assert spec == {"deploy": {"placement": {"constraints": [generate.DATA_NODE_CONSTRAINT]}}}
