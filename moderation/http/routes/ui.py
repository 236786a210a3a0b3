"""The moderators' web page: static HTML, CSS and JavaScript modules under ``/ui/``.

Served with a strict Content-Security-Policy (no inline script or style, no
framing, only this origin), so a comment that slipped through as markup could
still not run.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from moderation.http.api import Api

STATIC = Path(__file__).resolve().parents[2] / "static" / "ui"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


api = Api()


@api.get("/ui/", "The moderators' web page", role=None, raw=("text/html", {"type": "string"}))
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/ui/")


def add_routes(app: web.Application) -> None:
    app.add_routes(api.routes)
    # Not API operations: the bare path's redirect and the page's own files.
    app.router.add_get("/ui", redirect)
    app.router.add_static("/ui/", STATIC, follow_symlinks=False)
