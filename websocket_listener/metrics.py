"""Prometheus metrics of the listener (served on ``/metrics`` by ``core.service.HealthServer``).

Defined once at import, in the default registry; every name starts with ``alpha_listener_``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FILLS_WRITTEN = Counter(
    "alpha_listener_fills_written_total", "Executions newly committed to trading.fills", ["source"]
)
FUNDING_WRITTEN = Counter(
    "alpha_listener_funding_written_total", "Funding executions newly committed", ["source"]
)
DUPLICATES = Counter(
    "alpha_listener_duplicates_ignored_total",
    "Executions already in the ledger (ON CONFLICT DO NOTHING)",
    ["source"],
)
ORDERS_UPSERTED = Counter("alpha_listener_order_updates_total", "Order updates applied")
REJECTS = Counter(
    "alpha_listener_rejects_total", "Messages stored in trading.fill_rejects", ["reason"]
)
IGNORED = Counter(
    "alpha_listener_messages_ignored_total", "Messages of topics not stored", ["topic"]
)
BATCH_SIZE = Histogram(
    "alpha_listener_batch_size",
    "Envelopes per group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
COMMIT_SECONDS = Histogram(
    "alpha_listener_commit_seconds",
    "Wall time of one group commit (INSERTs + COMMIT)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECONNECTS = Counter(
    "alpha_listener_reconnects_total", "Private WebSocket (re)connects", ["account"]
)
CATCHUP_FILLS = Counter(
    "alpha_listener_catchup_executions_total",
    "Executions read from /v5/execution/list by catch-up (before dedup)",
    ["account"],
)
CATCHUP_ERRORS = Counter("alpha_listener_catchup_errors_total", "Failed catch-up runs", ["account"])
CATCHUP_MARK = Gauge(
    "alpha_listener_caught_up_to_seconds",
    "Unix time up to which the account's ledger is known complete (the catch-up watermark)",
    ["account"],
)
SPOOL_BACKLOG = Gauge("alpha_listener_spool_backlog", "Envelopes waiting in the on-disk spool")
SPOOL_BYTES = Gauge("alpha_listener_spool_bytes", "Bytes in the on-disk spool")
SPOOL_OVERFLOWS = Counter(
    "alpha_listener_spool_overflows_total",
    "Envelopes not spooled because the spool was full (recovered by catch-up)",
)
QUEUE_DEPTH = Gauge("alpha_listener_queue_depth", "Envelopes received, not yet written or spooled")
DB_UP = Gauge("alpha_listener_db_up", "1 when the writer's last commit or call reached PostgreSQL")
HANDOVER_ITEMS = Counter(
    "alpha_listener_handover_items_total", "Hand-over entries from trade sync", ["kind"]
)
POSITION_REFOLDS = Counter(
    "alpha_listener_position_refolds_total", "Late fills that re-folded a position from the ledger"
)
REDIS_ERRORS = Counter(
    "alpha_listener_redis_errors_total", "Failed Redis position/stream updates (retried by rebuild)"
)
REANNOUNCED = Counter(
    "alpha_listener_reannounced_fills_total",
    "Recent fills appended to bot streams again at start or after an outage",
)
HANDOVER_TRIMMED = Counter(
    "alpha_listener_handover_trimmed_total", "Hand-over entries deleted after their XACK"
)
FILL_LATENCY = Histogram(
    "alpha_listener_fill_latency_seconds",
    "Live messages: received on the socket → ledger committed and Redis updated",
    buckets=(
        0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5,
        1, 2.5, 5,
    ),
)  # fmt: skip
