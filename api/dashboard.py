"""The web dashboard: one HTML page, one script and one stylesheet from ``api/static/``,
served by the API process at ``/`` and ``/static/…``.

These files are public (a browser must load them before it has a token) and hold no
data: the page asks for a token, keeps it in ``sessionStorage`` and reads everything
through ``/api/v1/`` with ``Authorization: Bearer``, where the auth middleware applies
as to any other client. Only the exact files shipped here are public; any other path
under ``/static/`` is denied like an unknown API path.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PREFIX = "/static/"
INDEX = "/"

#: ``/`` and each shipped asset, by exact path: no prefix match, so no path trick
#: (``/static/../api/v1/…``) can reach a protected route unauthenticated.
PUBLIC_PATHS = frozenset(
    {INDEX} | {STATIC_PREFIX + f.name for f in STATIC_DIR.iterdir() if f.is_file()}
)

#: The page runs only its own script and talks only to its own origin; it cannot be
#: framed (clickjacking the pause button) and sends no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Small files: always revalidate, so an upgraded API never runs an old script.
    "Cache-Control": "no-cache",
}


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


async def _with_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path in PUBLIC_PATHS:
        response.headers.update(SECURITY_HEADERS)
        if response.content_type.startswith("text/") or "javascript" in response.content_type:
            response.charset = "utf-8"  # the files are UTF-8 ("—", "·"); say so


def add_routes(app: web.Application) -> None:
    app.router.add_get(INDEX, index)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, show_index=False, follow_symlinks=False)
    app.on_response_prepare.append(_with_headers)
