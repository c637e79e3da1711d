# Run inside the listener's container by the rehearsal (`python - DB …`): every
# `position:{bot_id}:{symbol}` hash of the given Redis DBs, as JSON.
import json
import os
import sys

import redis

out = {}
for db in sys.argv[1:]:
    client = redis.Redis(
        host=os.environ["REDIS_HOST"],
        port=int(os.environ.get("REDIS_PORT", "6379")),
        # The container's own ACL user (docs/redis.md#access): the listener may read
        # every position.
        username=os.environ.get("REDIS_USERNAME"),
        password=os.environ["REDIS_PASSWORD"],
        db=int(db),
        decode_responses=True,
    )
    for key in client.scan_iter("position:*"):
        out[key] = client.hgetall(key)
print(json.dumps(out, sort_keys=True))
