"""Middlewares: request ids, the contract's error body for every failure, security headers."""

from __future__ import annotations

import logging
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from moderation.domain.errors import ServiceError
from moderation.http.context import METRICS, REQUEST_ID
from moderation.http.routes.ui import CONTENT_SECURITY_POLICY

log = logging.getLogger("moderation.http")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    503: "not_ready",
}

CLIENT_CLOSED_REQUEST = 499

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The page needs no device or browser feature; no other window may script it.
    "Permissions-Policy": ", ".join(
        f"{feature}=()"
        for feature in (
            "camera",
            "microphone",
            "geolocation",
            "payment",
            "usb",
            "serial",
            "bluetooth",
            "display-capture",
            "clipboard-read",
            "interest-cohort",
        )
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

SERVER = "moderation"
"""The ``Server`` header: no framework or version to look vulnerabilities up by."""


async def hide_server(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, static files and redirects included."""
    response.headers["Server"] = SERVER


def error_body(
    code: str, message: str, details: list[dict[str, object]] | None = None
) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error}


def error_response(error: ServiceError) -> web.Response:
    response = web.json_response(
        error_body(error.code, error.message, error.details), status=error.status
    )
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as ``{"error": {"code", "message"}}``; a 5xx is logged as a bug."""
    request_id = request.headers.get("X-Request-Id", "")
    if not (0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()):
        request_id = secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ServiceError as error:
        response = error_response(error)
    except web.HTTPRequestEntityTooLarge:
        response = web.json_response(
            error_body("body_too_large", "the request body is too large"), status=413
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        response = web.json_response(error_body(code, exc.reason), status=exc.status)
        for name in ("Allow", "Retry-After"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
    except ConnectionResetError:
        # The client hung up (mid-body, say): its doing, not a bug. Nobody reads this
        # answer; 499 (nginx's "client closed request") keeps it apart in the metrics.
        log.info("client disconnected", extra={"request_id": request_id})
        response = web.json_response(
            error_body("client_disconnected", "the client closed the connection"),
            status=CLIENT_CLOSED_REQUEST,
        )
    except Exception:
        log.exception("unhandled error", extra={"request_id": request_id})
        response = web.json_response(
            error_body("internal_error", f"unexpected error; request id {request_id}"), status=500
        )
    response.headers["X-Request-Id"] = request_id
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/ui"):
        response.headers.update(PAGE_HEADERS)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    elapsed = time.perf_counter() - started
    request.app[METRICS].request(route, request.method, response.status, elapsed)
    log.info(
        "request",
        extra={
            "request_id": request_id,
            "method": request.method,
            "route": route,
            "status": response.status,
            "ms": round(elapsed * 1000, 2),
        },
    )
    return response
