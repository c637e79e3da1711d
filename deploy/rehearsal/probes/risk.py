# Run inside the C2's container by the rehearsal (`python - BOT_ID:DB …`), as the C2's
# Redis user, which may read the `alerts` stream and every `bot:*` key (docs/redis.md#access):
# the `risk_halt`/`risk_lift` alerts (their market time, and the wall-clock epoch of the
# stream id for their order), the bots' `order_rejected` notifications (which orders the
# exchange refused, with its retCode) and each bot's loss-limit anchors `bot:{id}:risk`,
# as JSON.
import json
import os
import sys

import redis


def client(db):
    return redis.Redis(
        host=os.environ["REDIS_HOST"],
        port=int(os.environ.get("REDIS_PORT", "6379")),
        username=os.environ.get("REDIS_USERNAME"),
        password=os.environ["REDIS_PASSWORD"],
        db=int(db),
        decode_responses=True,
    )


alerts = []
rejections = []
infra = client(os.environ.get("REDIS_INFRA_DB", "15"))
last = "-"
while True:
    page = infra.xrange("alerts", min=last, max="+", count=1000)
    for entry_id, fields in page:
        if fields.get("kind") in ("risk_halt", "risk_lift"):
            alerts.append(
                {
                    "kind": fields["kind"],
                    "bot_id": fields.get("bot_id", ""),
                    "text": fields.get("text", ""),
                    "market_time": fields.get("market_time", ""),
                    "at": int(entry_id.split("-")[0]) / 1000,
                }
            )
        if fields.get("kind") == "order_rejected":
            rejections.append(
                {
                    "bot_id": fields.get("bot_id", ""),
                    "code": fields.get("code", ""),
                    "symbol": fields.get("symbol", ""),
                    "text": fields.get("text", ""),
                }
            )
    if len(page) < 1000:
        break
    last = "(" + page[-1][0]
anchors = {}
for pair in sys.argv[1:]:
    bot_id, db = pair.rsplit(":", 1)
    anchors[bot_id] = client(db).hgetall(f"bot:{bot_id}:risk")
print(json.dumps({"alerts": alerts, "anchors": anchors, "rejections": rejections}, sort_keys=True))
