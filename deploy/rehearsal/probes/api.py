# Run inside the api container by the rehearsal (`python - TOKEN BOT_ID`): what the HTTP
# API answers a viewer token, no token, and a viewer trying a write; prints one JSON
# object. Statuses are collected, not raised: the rehearsal's check judges them.
import json
import sys
import urllib.error
import urllib.request

BASE = "http://127.0.0.1:8080"
token, bot_id = sys.argv[1], sys.argv[2]


def call(path, *, method="GET", bearer=None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    request = urllib.request.Request(
        BASE + path, method=method, headers=headers, data=b"{}" if method == "POST" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


out = {}
out["healthz"], _ = call("/healthz")
out["openapi"], spec = call("/openapi.json")
out["openapi_paths"] = len((spec or {}).get("paths") or {})
out["bots_status"], bots = call("/api/v1/bots", bearer=token)
out["bots"] = sorted(b["bot_id"] for b in (bots or {}).get("bots", []))
out["no_token"], _ = call("/api/v1/bots")
out["viewer_pause"], _ = call(f"/api/v1/bots/{bot_id}/pause", method="POST", bearer=token)
out["positions_status"], positions = call(f"/api/v1/bots/{bot_id}/positions", bearer=token)
out["positions"] = (positions or {}).get("positions")
print(json.dumps(out, default=str))
