"""``/openapi.json``: a well-formed OpenAPI 3.1 document describing every route the app
serves. No OpenAPI meta-schema is available offline, so the checks are structural, and
every component schema is checked against the JSON Schema 2020-12 meta-schema (the
other API tests validate real replies against these schemas)."""

from __future__ import annotations

import re

import jsonschema
import pytest
from aiohttp import web

from api.app import build_app
from api.context import ApiContext
from api.openapi import document
from api.routes import PREFIX, ROUTES

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def doc() -> dict:
    return document()


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict, ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, ref
        node = node[part]
    return node


def test_document_is_openapi_3_1_with_bearer_security(doc) -> None:
    assert doc["openapi"] == "3.1.0"
    assert {"title", "version"} <= set(doc["info"])
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    for path in ("/healthz", "/openapi.json", "/"):
        assert doc["paths"][path]["get"]["security"] == []
    # Webhooks authenticate with their bot's secret, not a bearer token.
    assert doc["paths"]["/webhook/{bot_id}"]["post"]["security"] == []
    public = [
        p for p, ops in doc["paths"].items() for op in ops.values() if op.get("security") == []
    ]
    assert sorted(public) == ["/", "/healthz", "/openapi.json", "/webhook/{bot_id}"]


def test_every_served_route_is_described_and_nothing_else(doc, database) -> None:
    app = build_app(ApiContext(database.settings))  # the router only; nothing connects
    served = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and isinstance(r.resource, web.Resource)
    }
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == described
    # + /healthz, /openapi.json, the webhook, the dashboard (its /static/ files are a
    # static resource, not an operation)
    assert len(described) == len(ROUTES) + 4


def test_operations_are_complete_and_refs_resolve(doc) -> None:
    operation_ids = []
    for path, ops in doc["paths"].items():
        assert path == "/" or path.startswith(
            ("/api/v1/", "/healthz", "/openapi.json", "/webhook/")
        ), path
        templated = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            assert method in HTTP_METHODS
            operation_ids.append(op["operationId"])
            assert op["summary"]
            # 200, or 202 for an action that waits for its confirmation
            assert {"200", "202"} & set(op["responses"]), (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (path, method)
            for p in op.get("parameters", []):
                assert p["in"] in ("query", "path", "header") and "schema" in p
                assert p["required"] is True or p["in"] in ("query", "header")
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code) and response["description"]
            if path.startswith(PREFIX):
                assert {"401", "429"} <= set(op["responses"])
                assert ("403" in op["responses"]) == (method != "get")
    assert len(operation_ids) == len(set(operation_ids))
    for ref in _refs(doc):
        _resolve(doc, ref)


def test_component_schemas_are_valid_json_schema_2020_12(doc) -> None:
    for name, schema in doc["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            pytest.fail(f"{name}: {exc.message}")
    validator = jsonschema.Draft202012Validator(
        {"components": doc["components"], "$ref": "#/components/schemas/Error"}
    )
    assert validator.is_valid({"error": {"status": 401, "message": "x"}})
    assert not validator.is_valid({"error": {"status": 401}})  # the schemas do bite
