"""``/openapi.json``: an OpenAPI 3.1 document built from the route table itself."""

from __future__ import annotations

import re
from typing import Any

from api.routes import PREFIX, ROUTES, Route
from api.schemas import SCHEMAS, ref
from core.cli import installed_version

_ERRORS = {
    "400": "a bad parameter (one line saying which)",
    "401": "no token, or an unknown or revoked one",
    "403": "a viewer token on a write",
    "404": "no such bot (or confirmation id)",
    "409": "nothing to do (the kill switch is not set)",
    "410": "the confirmation expired; nothing was done",
    "429": "too many requests with this token (see Retry-After)",
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _operation(route: Route) -> dict[str, Any]:
    codes = ["400", "401", "429"]
    if route.write:
        codes.append("403")
    if "{bot_id}" in route.path:
        codes.append("404")
    ok = "OK" if route.status == 200 else "accepted: confirm it with POST /confirm/{id}"
    success = {"description": ok, "content": {route.content_type: {"schema": ref(route.response)}}}
    responses: dict[str, Any] = {str(route.status): success}
    for code in sorted(set(codes) | set(route.errors)):
        responses[code] = _json(_ERRORS[code], ref("Error"))
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": route.summary,
        "parameters": [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "description": p.description,
                "schema": p.schema,
            }
            for p in route.params
        ],
        "responses": responses,
        "x-alpha-role": "admin" if route.write else "viewer",
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(route.body)}},
        }
    return operation


def _operation_id(route: Route) -> str:
    words = re.findall(r"[a-z]+", route.path.replace("{bot_id}", "bot"))
    return "_".join([route.method.lower(), *words])


def _webhook(public: list[dict[str, Any]]) -> dict[str, Any]:
    def answer(description: str) -> dict[str, Any]:
        return _json(description, ref("WebhookReply"))

    return {
        "post": {
            "operationId": "post_webhook_bot",
            "summary": "a trading signal for a webhook bot (TradingView alert format);"
            " authenticated by the bot's secret in the body or an X-Signature header",
            "security": public,
            "parameters": [
                {
                    "name": "bot_id",
                    "in": "path",
                    "required": True,
                    "description": "the webhook bot's id",
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("WebhookSignal")}},
            },
            "responses": {
                "200": answer("a duplicate of an accepted alert id: ignored"),
                "202": answer("accepted and delivered to the bot"),
                "400": answer("not a valid signal (recorded as invalid)"),
                "401": answer("wrong or missing secret or signature (recorded as bad_secret)"),
                "404": _json("no webhook bot with this id", ref("Error")),
                "413": _json("body larger than 16 KiB", ref("Error")),
                "422": answer("older than the TTL (recorded as stale)"),
                "429": _json("too many signals for this bot", ref("Error")),
                "503": answer("not delivered (recorded as failed); send it again"),
            },
        }
    }


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(PREFIX + route.path, {})[route.method.lower()] = _operation(route)
    public: list[dict[str, Any]] = []  # no security requirement: anyone who reaches the port
    paths["/healthz"] = {
        "get": {
            "operationId": "get_healthz",
            "summary": "liveness: the database and Redis answer",
            "security": public,
            "responses": {
                "200": _json("healthy", ref("Health")),
                "503": _json("a check fails", ref("Health")),
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "get_openapi",
            "summary": "this document",
            "security": public,
            "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
        }
    }
    paths["/webhook/{bot_id}"] = _webhook(public)
    paths["/"] = {
        "get": {
            "operationId": "get_dashboard",
            "summary": "the web dashboard (HTML; its script and stylesheet are under"
            " /static/); public and holds no data: it reads the API with the token it asks for",
            "security": public,
            "responses": {
                "200": {"description": "the page", "content": {"text/html": {"schema": {}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Alpha API",
            "version": installed_version(),
            "description": "Bots, positions, fills, P&L, alerts and the operator audit; pause"
            " and resume. Bearer tokens from 'alpha api token create'.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
