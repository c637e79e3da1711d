"""The dashboard's files over plain HTTP: public, holding no data, with headers that
keep the page from being framed or running foreign script; nothing else becomes public;
``GET /api/v1/me`` tells the page which role its token has."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
from api_harness import add_bot, check_reply, make_token, running_api

from api.dashboard import PUBLIC_PATHS, STATIC_DIR
from api.routes import PREFIX


def test_page_and_assets_are_public_hold_no_data_and_forbid_framing(database, redis) -> None:
    add_bot(database, "secret_bot_name", "s1")
    assert {
        "/",
        "/static/index.html",
        "/static/dashboard.js",
        "/static/pages.js",
        "/static/chart.js",
        "/static/dashboard.css",
    } == PUBLIC_PATHS
    with running_api(database) as api:
        for path, kind in (
            ("/", "text/html"),
            ("/static/dashboard.js", "javascript"),
            ("/static/pages.js", "javascript"),
            ("/static/chart.js", "javascript"),
            ("/static/dashboard.css", "text/css"),
        ):
            r = api.get(path)
            assert r.status_code == 200, (path, r.text)
            assert kind in r.headers["Content-Type"], path
            assert "secret_bot_name" not in r.text  # the data comes only over the API
            csp = r.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Referrer-Policy"] == "no-referrer"
        assert api.get("/").text == (STATIC_DIR / "index.html").read_text()


@pytest.mark.parametrize(
    "path",
    [
        "/static/",
        "/static/missing.js",
        "/static/../api/v1/bots",
        "/static/%2e%2e/api/v1/bots",
        "/static/dashboard.js/../../api/v1/bots",
        "/index.html",
    ],
)
def test_nothing_else_becomes_public(database, redis, path) -> None:
    add_bot(database, "alpha_one", "a1")
    with running_api(database) as api:
        r = api.get(path)
        assert r.status_code in (401, 404), (path, r.status_code, r.text)
        assert "alpha_one" not in r.text


def test_api_routes_still_need_a_token(database, redis) -> None:
    with running_api(database) as api:
        for path in (f"{PREFIX}/bots", f"{PREFIX}/me"):
            r = api.get(path)
            assert r.status_code == 401
            check_reply(r, "Error")


def test_me_names_the_token_and_its_role(database, redis) -> None:
    viewer = make_token(database, "wallboard", "viewer")
    admin = make_token(database, "ops", "admin")
    with running_api(database) as api:
        assert check_reply(api.get(f"{PREFIX}/me", viewer), "Me") == {
            "name": "wallboard",
            "role": "viewer",
        }
        assert check_reply(api.get(f"{PREFIX}/me", admin), "Me") == {"name": "ops", "role": "admin"}
        assert api.post(f"{PREFIX}/me", admin).status_code == 405


def test_the_files_ship_in_the_package() -> None:
    """The image installs a wheel, not the source tree: without package data the page
    would be missing there and every dashboard path would answer 404."""
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    globs = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["api"]
    for file in STATIC_DIR.iterdir():
        relative = file.relative_to(STATIC_DIR.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative
