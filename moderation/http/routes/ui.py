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


async def asset(request: web.Request) -> web.FileResponse:
    """One of the page's own files. A name that is not a file of ``STATIC`` (missing, a
    folder, outside it, through a link) is a 404 raised here, before the response starts,
    so it leaves in the contract's error format (aiohttp's static route found out only
    while sending, and answered a bare ``application/octet-stream`` 404)."""
    name = request.match_info["name"]
    candidate = STATIC / name
    if not name or ".." in Path(name).parts or candidate.is_symlink():
        raise web.HTTPNotFound()
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise web.HTTPNotFound() from None
    if not resolved.is_file() or not resolved.is_relative_to(STATIC.resolve()):
        raise web.HTTPNotFound()
    return web.FileResponse(resolved)


def add_routes(app: web.Application) -> None:
    app.add_routes(api.routes)
    # Not API operations: the bare path's redirect and the page's own files.
    app.router.add_get("/ui", redirect)
    app.router.add_get("/ui/{name:.+}", asset)
