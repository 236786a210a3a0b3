"""Domain errors. Raised anywhere; mapped to the contract's error body in one middleware.

Messages are written by us and never contain the caller's input, so they are
safe to log and to return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class ServiceError(Exception):
    """Base class: an HTTP status, a snake_case code and a human message."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details = list(details or [])
        self.retry_after = retry_after


class BadRequest(ServiceError):
    status = 400
    code = "bad_request"


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class RequestTimeout(ServiceError):
    status = 408
    code = "request_timeout"


class ValidationFailed(ServiceError):
    status = 422
    code = "validation_failed"


class TooManyRequests(ServiceError):
    status = 429
    code = "rate_limited"


class NotReady(ServiceError):
    status = 503
    code = "not_ready"
