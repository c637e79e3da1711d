"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) of every reply; the tests validate real
replies against them. Money and quantities are decimal strings, never floats."""

from __future__ import annotations

from typing import Any

DECIMAL: dict[str, Any] = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
NULLABLE_TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
CURSOR: dict[str, Any] = {"type": ["string", "null"]}


def obj(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these properties, all present."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj({"error": obj({"status": {"type": "integer"}, "message": {"type": "string"}})}),
    "Bot": obj(
        {
            "bot_id": {"type": "string"},
            "bot_code": {"type": "string"},
            "bot_name": {"type": "string"},
            "bot_type": {"type": "string"},
            "strategy_name": {"type": "string"},
            "status": {"enum": ["active", "paused", "stopped"]},
            "state": {"type": ["string", "null"], "description": "what the bot obeys (Redis)"},
            "mode": {"enum": ["live", "testnet", "demo", "paper"]},
            "account": {"type": "string"},
            "symbols": {"type": "array", "items": {"type": "string"}},
            "initial_capital": {"anyOf": [DECIMAL, {"type": "null"}]},
            "created_at": TIME,
            "updated_at": TIME,
            "last_heartbeat": NULLABLE_TIME,
            "heartbeat_age_seconds": {"type": ["number", "null"]},
        }
    ),
    "Me": obj({"name": {"type": "string"}, "role": {"enum": ["viewer", "admin"]}}),
    "BotList": obj({"bots": array_of("Bot")}),
    "BotOne": obj({"bot": ref("Bot")}),
    "Position": obj(
        {
            "symbol": {"type": "string"},
            "qty": DECIMAL,
            "avg_price": DECIMAL,
            "realized_pnl": DECIMAL,
            "fees": DECIMAL,
            "gross_pnl": DECIMAL,
            "volume": DECIMAL,
            "fills": {"type": "integer"},
            "last_fill": TIME,
        }
    ),
    "Positions": obj({"bot_id": {"type": "string"}, "positions": array_of("Position")}),
    "PnlDay": obj(
        {
            "day": {"type": "string", "format": "date"},
            "realized_pnl": DECIMAL,
            "fees": DECIMAL,
            "funding": DECIMAL,
            "net_pnl": DECIMAL,
            "gross_pnl": DECIMAL,
            "volume": DECIMAL,
            "fills": {"type": "integer"},
        }
    ),
    "DailyPnl": obj({"bot_id": {"type": "string"}, "days": array_of("PnlDay")}),
    "Fill": obj(
        {
            "exec_id": {"type": "string"},
            "bot_id": {"type": "string"},
            "account": {"type": "string"},
            "category": {"type": "string"},
            "symbol": {"type": "string"},
            "side": {"enum": ["Buy", "Sell"]},
            "exec_price": DECIMAL,
            "exec_qty": DECIMAL,
            "exec_value": DECIMAL,
            "exec_fee": DECIMAL,
            "fee_currency": {"type": "string"},
            "is_maker": {"type": "boolean"},
            "exec_type": {"type": "string"},
            "order_id": {"type": "string"},
            "order_link_id": {"type": "string"},
            "exec_time": TIME,
            "seq": {"type": "integer"},
            "source": {"enum": ["ws", "rest"]},
        }
    ),
    "Fills": obj({"fills": array_of("Fill"), "next_cursor": CURSOR}),
    "Alert": obj(
        {
            "id": {"type": "string", "pattern": r"^\d+-\d+$"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        }
    ),
    "Alerts": obj({"alerts": array_of("Alert"), "next_before": CURSOR}),
    "AuditEntry": obj(
        {
            "id": {"type": "integer"},
            "created_at": TIME,
            "channel": {"enum": ["telegram", "cli", "system", "api"]},
            "user_id": {"type": ["integer", "null"]},
            "username": {"type": ["string", "null"]},
            "chat_id": {"type": ["integer", "null"]},
            "command": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "bot_id": {"type": ["string", "null"]},
            "outcome": {
                "enum": [
                    "accepted",
                    "refused",
                    "pending",
                    "confirmed",
                    "expired",
                    "failed",
                    "cancelled",
                ]
            },
            "detail": {"type": ["string", "null"]},
        }
    ),
    "Audit": obj({"entries": array_of("AuditEntry"), "next_cursor": CURSOR}),
    "Signal": obj(
        {
            "id": {"type": "integer"},
            "received_at": TIME,
            "alert_id": {"type": ["string", "null"]},
            "alert_time": NULLABLE_TIME,
            "action": {"type": ["string", "null"]},
            "symbol": {"type": ["string", "null"]},
            "outcome": {
                "enum": ["accepted", "duplicate", "stale", "bad_secret", "invalid", "failed"]
            },
            "detail": {"type": ["string", "null"]},
            "payload": {"type": "object", "not": {"required": ["secret"]}},
        }
    ),
    "Signals": obj(
        {"bot_id": {"type": "string"}, "signals": array_of("Signal"), "next_cursor": CURSOR}
    ),
    "StateChange": obj(
        {
            "bot_id": {"type": "string"},
            "state": {"enum": ["paused", "running", "stopped"]},
            "changed": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "EventStream": {
        "type": "string",
        "description": (
            "text/event-stream. Events: `bot` {bot_id, status, state} (every bot when the"
            " stream opens, then each change), `alert` {id, fields} (the alerts stream from"
            " its newest entry), `fill` (a fill row plus ingested_at, in arrival order)."
            " Each event's id is the resume cursor (send it back as Last-Event-ID);"
            " `: heartbeat` comments after 15 s of silence."
        ),
    },
    "Confirmation": obj(
        {
            "confirmation_id": {"type": "string"},
            "action": {"enum": ["flatten", "kill", "unkill", "ackdrift"]},
            "bot_id": {"type": ["string", "null"]},
            "expires_at": TIME,
            "confirm": {"type": "string"},
        }
    ),
    "Confirmed": obj(
        {
            "action": {"enum": ["flatten", "kill", "unkill", "ackdrift"]},
            "bot_id": {"type": ["string", "null"]},
            "detail": {"type": "string"},
        }
    ),
    "Health": obj(
        {
            "status": {"enum": ["ok", "failing"]},
            "checks": {
                "type": "object",
                "additionalProperties": obj(
                    {"ok": {"type": "boolean"}, "detail": {"type": "string"}}
                ),
            },
        }
    ),
    "WebhookSignal": {
        "type": "object",
        "properties": {
            "secret": {"type": "string", "description": "the bot's webhook secret"},
            "id": {"type": ["string", "integer"], "description": "unique alert id"},
            "time": {"type": ["string", "integer"], "description": "ISO 8601 or Unix ms"},
            "action": {"enum": ["enter_long", "enter_short", "exit", "stop"]},
            "symbol": {"type": "string"},
            "qty": {"type": ["string", "number"]},
            "risk_pct": {"type": ["string", "number"]},
            "stop": {"type": ["string", "number"]},
            "price": {"type": ["string", "number"]},
        },
        "required": ["id", "time", "action", "symbol"],
    },
    "WebhookReply": {
        "type": "object",
        "properties": {
            "outcome": {
                "enum": ["accepted", "duplicate", "stale", "bad_secret", "invalid", "failed"]
            },
            "signal_id": {"type": "integer"},
            "error": {"$ref": "#/components/schemas/Error/properties/error"},
        },
        "required": ["outcome"],
        "additionalProperties": False,
    },
}

NULLABLE_DECIMAL: dict[str, Any] = {"anyOf": [DECIMAL, {"type": "null"}]}
MODES: dict[str, Any] = {"enum": ["live", "testnet", "demo", "paper"]}

SCHEMAS.update(
    {
        "FleetPosition": obj(
            {
                "symbol": {"type": "string"},
                "account": {"type": "string"},
                "qty": DECIMAL,
                "avg_price": DECIMAL,
            }
        ),
        "FleetBot": obj(
            {
                "bot_id": {"type": "string"},
                "bot_code": {"type": "string"},
                "bot_name": {"type": "string"},
                "bot_type": {"type": "string"},
                "status": {"enum": ["active", "paused", "stopped"]},
                "state": {"type": ["string", "null"]},
                "mode": MODES,
                "account": {"type": "string"},
                "symbols": {"type": "array", "items": {"type": "string"}},
                "positions": array_of("FleetPosition"),
                "pnl_today": NULLABLE_DECIMAL,
                "fills_today": {"type": "integer"},
                "last_heartbeat": NULLABLE_TIME,
                "heartbeat_age_seconds": {"type": ["number", "null"]},
                "drift": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "symbols of the bot with open drift on its account",
                },
            }
        ),
        "Fleet": obj({"day": {"type": "string", "format": "date"}, "bots": array_of("FleetBot")}),
        "AccountPosition": obj(
            {
                "account": {"type": "string"},
                "symbol": {"type": "string"},
                "bots": {
                    "type": "array",
                    "items": obj({"bot_id": {"type": "string"}, "qty": DECIMAL}),
                },
                "bots_qty": DECIMAL,
                "external_qty": DECIMAL,
                "exchange_qty": {
                    **NULLABLE_DECIMAL,
                    "description": "what trade sync saw on the exchange when it disagrees;"
                    " null when its last check found it equal to bots_qty + external_qty",
                },
                "drift": {"type": "boolean"},
                "drift_since": NULLABLE_TIME,
                "checked_at": NULLABLE_TIME,
            }
        ),
        "Accounts": obj({"positions": array_of("AccountPosition")}),
        "DriftEvent": obj(
            {
                "id": {"type": "integer"},
                "account": {"type": "string"},
                "symbol": {"type": "string"},
                "exchange_qty": DECIMAL,
                "ledger_qty": DECIMAL,
                "difference": DECIMAL,
                "per_bot": {"type": "object", "additionalProperties": DECIMAL},
                "detected_at": TIME,
                "last_seen_at": TIME,
            }
        ),
        "Drift": obj({"drift": array_of("DriftEvent")}),
        "Backup": obj(
            {
                "id": {"type": "integer"},
                "backup_date": {"type": "string", "format": "date"},
                "kind": {"enum": ["scheduled", "manual"]},
                "status": {"enum": ["running", "verified", "failed", "deleted"]},
                "verified": {"type": "boolean"},
                "started_at": TIME,
                "finished_at": NULLABLE_TIME,
                "verified_at": NULLABLE_TIME,
                "size_bytes": {"type": ["integer", "null"]},
                "sha256": {"type": ["string", "null"]},
                "error": {"type": ["string", "null"]},
            }
        ),
        "Backups": obj({"backups": array_of("Backup")}),
        "BackupRequested": obj({"request_id": {"type": "string"}}),
        "DriftAck": {
            "type": "object",
            "description": "what `alpha drift ack` takes: a bot (its account, its symbols)"
            " or an account (every symbol), and an optional reason kept with the ack",
            "properties": {
                "target": {"type": "string", "minLength": 1},
                "reason": {"type": "string", "maxLength": 200},
            },
            "required": ["target"],
            "additionalProperties": False,
        },
        "BotUpdate": {
            "type": "object",
            "description": "the options of `alpha bots update`; at least one",
            "properties": {
                "config": {
                    "type": ["object", "string"],
                    "description": "keys replace the stored keys of the same name",
                },
                "symbols": {"type": ["array", "string"], "items": {"type": "string"}},
                "mode": MODES,
                "name": {"type": "string"},
                "initial_capital": DECIMAL,
            },
            "minProperties": 1,
            "additionalProperties": False,
        },
        "BotUpdated": obj(
            {
                "bot_id": {"type": "string"},
                "changed": {"type": "array", "items": {"type": "string"}},
                "detail": {"type": "string"},
                "reload": {
                    "enum": [
                        "applied",
                        "needs restart",
                        "nothing to apply",
                        "refused",
                        "no answer",
                        "not running",
                        "error",
                        None,
                    ],
                    "description": "the running bot's answer to the reload the update sent"
                    " (null: nothing changed, nothing sent; `not running`: it takes the"
                    " change when it starts; `no answer`: none within `?wait=`, it takes it"
                    " when it reads the command)",
                },
                "reload_detail": {
                    "type": ["string", "null"],
                    "description": "the bot's one-line answer as it gave it",
                },
                "restart_needed": {
                    "type": "boolean",
                    "description": "the running bot did not apply the change: restart it",
                },
            }
        ),
        "BotVersion": obj(
            {
                "version": {"type": "integer"},
                "changed_at": TIME,
                "changed_by": {"type": "string"},
                "changes": {"type": "object"},
            }
        ),
        "BotHistory": obj(
            {
                "bot_id": {"type": "string"},
                "current": obj(
                    {
                        "bot_name": {"type": "string"},
                        "mode": MODES,
                        "symbols": {"type": "array", "items": {"type": "string"}},
                        "config": {"type": "object"},
                        "initial_capital": NULLABLE_DECIMAL,
                    }
                ),
                "versions": array_of("BotVersion"),
            }
        ),
        "EquityPoint": obj(
            {"day": {"type": "string", "format": "date"}, "net_pnl": DECIMAL, "equity": DECIMAL}
        ),
        "Equity": obj(
            {
                "bot_id": {"type": "string"},
                "initial_capital": NULLABLE_DECIMAL,
                "points": array_of("EquityPoint"),
            }
        ),
        "RoundTrip": obj(
            {
                "symbol": {"type": "string"},
                "trip_no": {"type": "integer"},
                "side": {"enum": ["Long", "Short"]},
                "entry_time": NULLABLE_TIME,
                "exit_time": NULLABLE_TIME,
                "qty": NULLABLE_DECIMAL,
                "avg_entry": NULLABLE_DECIMAL,
                "avg_exit": NULLABLE_DECIMAL,
                "gross_pnl": DECIMAL,
                "fees": DECIMAL,
                "net_pnl": DECIMAL,
                "fills": {"type": "integer"},
            }
        ),
        "RoundTrips": obj({"bot_id": {"type": "string"}, "round_trips": array_of("RoundTrip")}),
        "Order": obj(
            {
                "order_id": {"type": "string"},
                "order_link_id": {"type": "string"},
                "symbol": {"type": "string"},
                "side": {"enum": ["Buy", "Sell"]},
                "order_type": {"type": "string"},
                "status": {"type": "string"},
                "price": NULLABLE_DECIMAL,
                "qty": DECIMAL,
                "cum_exec_qty": DECIMAL,
                "trigger_price": NULLABLE_DECIMAL,
                "reduce_only": {"type": "boolean"},
                "created_time": NULLABLE_TIME,
                "updated_time": NULLABLE_TIME,
            }
        ),
        "Orders": obj({"bot_id": {"type": "string"}, "orders": array_of("Order")}),
    }
)
