# Run inside a bot's container by the rehearsal (`python -`): the universe the bot
# published (`bot:{id}:universe`, bots/runtime/universe.py), as JSON; {} when none.
import os

import redis

client = redis.Redis(
    host=os.environ["REDIS_HOST"],
    port=int(os.environ.get("REDIS_PORT", "6379")),
    # The bot's own ACL user (docs/redis.md#access) may read its own bot:{id}:* keys.
    username=os.environ.get("REDIS_USERNAME"),
    password=os.environ["REDIS_PASSWORD"],
    db=int(os.environ.get("REDIS_DB", "0")),
    decode_responses=True,
)
raw = client.get(f"bot:{os.environ['BOT_ID']}:universe")
print(raw or "{}")
