"""Reading request bodies: size, UTF-8, JSON, then the pydantic model.

Error details name the field and the problem; they never repeat the input, and
field names that did not come from our schema are masked.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from moderation.domain.errors import (
    BadRequest,
    PayloadTooLarge,
    RequestTimeout,
    ValidationFailed,
)
from moderation.domain.text import text_problem
from moderation.http.context import SETTINGS

Model = TypeVar("Model", bound=BaseModel)

_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON but no finite float: it would come back out as Infinity,
    # which is not JSON, so it is refused as NaN and Infinity are.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


async def read_body(request: web.Request) -> bytes:
    """The raw body: 413 beyond the size limit, 408 when it does not arrive within
    ``MODERATION_BODY_TIMEOUT_S`` (a client trickling a byte every few seconds would
    otherwise hold its connection and handler for as long as it likes)."""
    try:
        async with asyncio.timeout(request.app[SETTINGS].body_timeout_s):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge("the request body is too large", code="body_too_large") from None
    except TimeoutError:
        raise RequestTimeout(
            "the request body did not arrive in time", code="body_timeout"
        ) from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON value, or a 400/408/413 in the contract's error format."""
    raw = await read_body(request)
    if not raw:
        raise BadRequest("the request needs a JSON body", code="malformed_json")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8", code="invalid_utf8") from None
    try:
        value = json.loads(decoded, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", code="malformed_json") from None
    _check_strings(value, 0)
    return value


def _check_strings(value: Any, depth: int) -> None:
    if depth > 32:
        raise BadRequest("the JSON body is nested too deeply", code="malformed_json")
    if isinstance(value, str):
        _check_string(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key)
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def _check_string(text: str, where: str = "the body") -> None:
    problem = text_problem(text)
    if problem == "surrogate":
        # JSON \ud800-style escapes decode to lone surrogates, which are not Unicode text.
        raise BadRequest(
            f"{where} contains invalid Unicode (lone surrogates)", code="invalid_unicode"
        )
    if problem == "nul":
        raise ValidationFailed("strings must not contain NUL characters", code="validation_failed")


def parse_query(request: web.Request, model: type[Model]) -> Model:
    """The query string as ``model``, its names and values held to the body's rules
    first (no NUL, no lone surrogates: PostgreSQL would refuse them with a 500). Called by
    handlers after their key is checked, so a caller without one still gets its 401."""
    for name, value in request.query.items():
        _check_string(name, "the query")
        _check_string(value, "the query")
    return validate(model, dict(request.query), what="the query string")


def path_text(request: web.Request, name: str) -> str:
    """The path parameter ``name``, held to the body's rules (for ids without a pattern
    of their own)."""
    value = request.match_info[name]
    _check_string(value, "the path")
    return value


def validate(model: type[Model], value: Any, *, what: str = "the request body") -> Model:
    """``model`` validated from ``value`` (``what`` the request holds it in), or a 422
    listing each field and problem."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise ValidationFailed(f"{what} is not valid", details=describe(exc)) from None


def describe(exc: ValidationError) -> list[dict[str, Any]]:
    details = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        path = ".".join(
            str(part) if isinstance(part, int) or _SAFE_NAME.match(part) else "?"
            for part in error["loc"]
        )
        details.append({"field": path or "(body)", "problem": _problem(error)})
    return details


def _problem(error: Any) -> str:
    if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        # pydantic names the model class here ("... instance of ClaimIn"): ours, not the API's
        return "expected a JSON object"
    message = str(error["msg"])
    # pydantic's messages for literals and patterns quote our schema, not the input
    return message.removeprefix("Value error, ")


async def parse(request: web.Request, model: type[Model]) -> Model:
    return validate(model, await read_json(request))
