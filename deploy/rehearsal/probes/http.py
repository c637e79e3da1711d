# Run inside a container by the rehearsal (`python - URL [JSON]`): one request to a
# loopback-only API of that container (the paper exchange's /paper/*, the fake Bot API's
# /_test/*); prints the JSON reply.
import sys
import urllib.request

url = sys.argv[1]
body = sys.argv[2].encode() if len(sys.argv) > 2 else None
request = urllib.request.Request(
    url,
    data=body,
    method="POST" if body is not None else "GET",
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=30) as reply:
    print(reply.read().decode())
