"""Coral's External Moderation Phase (``docs/coral.md``).

``POST /v1/integrations/coral/phase`` takes no API key: Coral signs each request with
the phase's signing secret, and the signature over the raw bytes is checked before the
body is parsed. ``PUT``/``GET /v1/integrations/coral`` (admins) store that secret and say
whether one is stored. The wire format of Coral's answer is built by
``services/coral.answer``; the request is validated here.

Coral's request fields beyond the ones read here are ignored rather than refused, and
only the fields the service needs are required: Coral treats any answer but a 2xx as no
answer and publishes the comment unmoderated, so a newer Coral's extra field must not
turn moderation off.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator

from moderation.contract import timestamp
from moderation.domain.models import Role
from moderation.http.access import requires
from moderation.http.api import Api
from moderation.http.context import API_KEY, CORAL
from moderation.http.parsing import parse, read_body
from moderation.http.schemas import ID_PATTERN
from moderation.services.coral import (
    MAX_SECRET_CHARS,
    PHASE_PATH,
    SIGNATURE_HEADER,
    CoralSettings,
    Phase,
)

api = Api()
routes = api.routes

ADMIN_PATH = "/v1/integrations/coral"
MAX_BODY_CHARS = 200_000
"""Coral's comment body (HTML by default); its text is moderated whole."""


def as_api_id(coral_id: str) -> str:
    """Coral's id as one of this API's ids: unchanged when it is one already (Coral's
    UUIDs are); otherwise ``coral-`` and 40 hex digits of its SHA-256, the same for the
    same id. The service's ids never contain ``/``, which separates a scope from an id in
    what is stored (``domain/scopes.py``): an author id ``othersite/u-1`` taken as it is
    would be another website's author. An id that already starts with ``coral-`` is
    hashed too, so that it cannot pose as another id's hash."""
    if re.fullmatch(ID_PATTERN, coral_id) and not coral_id.startswith("coral-"):
        return coral_id
    return "coral-" + hashlib.sha256(coral_id.encode("utf-8")).hexdigest()[:40]


CoralId = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(as_api_id)]
Short = Annotated[str, StringConstraints(max_length=200)]


class _Coral(BaseModel):
    # Unknown fields are ignored, not refused: see the module docstring.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CoralCommentIn(_Coral):
    body: Annotated[str, StringConstraints(max_length=MAX_BODY_CHARS)]
    # Coral's field names, as Coral spells them; an empty parentID is no parent.
    parentID: Annotated[Short, AfterValidator(lambda v: as_api_id(v) if v else v)] | None = None


class CoralAuthorIn(_Coral):
    id: CoralId
    role: Short | None = None


class CoralStoryIn(_Coral):
    id: CoralId
    url: Annotated[str, StringConstraints(max_length=4_000)] | None = None


class CoralSiteIn(_Coral):
    id: Short | None = None


class CoralPhaseIn(_Coral):
    """Coral's ``ExternalModerationRequest`` (``docs/coral.md``)."""

    action: Literal["NEW", "EDIT"]
    comment: CoralCommentIn
    author: CoralAuthorIn
    story: CoralStoryIn
    site: CoralSiteIn | None = None
    tenantID: Short | None = None
    tenantDomain: Short | None = None

    def to_domain(self) -> Phase:
        return Phase(
            action=self.action,
            body=self.comment.body,
            parent_id=self.comment.parentID or None,
            author_id=self.author.id,
            author_role=self.author.role or None,
            story_id=self.story.id,
            story_url=self.story.url or None,
            site_id=(self.site.id or None) if self.site else None,
            tenant_id=self.tenantID or None,
            tenant_domain=self.tenantDomain or None,
        )


class CoralSecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_secret: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SECRET_CHARS)]

    @field_validator("signing_secret")
    @classmethod
    def _printable(cls, value: str) -> str:
        # As Coral shows it (empsec_ and hex): visible ASCII, no spaces from a careless copy.
        if not all("!" <= char <= "~" for char in value):
            raise ValueError("must be printable ASCII without spaces")
        return value


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class CoralActionOut(_Out):
    actionType: Literal["FLAG"]
    reason: Literal["COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM"]


class CoralRejectionReasonOut(_Out):
    code: str
    detailedExplanation: str | None = None


class CoralModerationActionOut(_Out):
    status: Literal["REJECTED"]
    rejectionReason: CoralRejectionReasonOut


class CoralAnswerOut(_Out):
    """Coral's ``ExternalModerationResponse``; optional fields are left out, never null."""

    status: Literal["APPROVED", "SYSTEM_WITHHELD", "REJECTED"]
    actions: list[CoralActionOut] | None = None
    moderationAction: CoralModerationActionOut | None = None


class CoralIntegrationOut(_Out):
    configured: bool
    updated_by: str | None
    updated_at: str | None
    phase_path: str


def _settings_json(settings: CoralSettings) -> dict[str, Any]:
    return {
        "configured": settings.configured,
        "updated_by": settings.updated_by,
        "updated_at": timestamp(settings.updated_at),
        "phase_path": PHASE_PATH,
    }


@api.post(
    PHASE_PATH,
    f"Coral's External Moderation Phase; no key: signed by Coral ({SIGNATURE_HEADER}). "
    "204 when the comment has no text (docs/coral.md)",
    role=None,
    response=CoralAnswerOut,
    body=CoralPhaseIn,
    errors=(400, 401, 408, 413, 422, 503),
)
async def phase(request: web.Request) -> web.Response:
    started = asyncio.get_running_loop().time()
    coral = request.app[CORAL]
    # The signature covers the raw bytes: checked before anything reads them as JSON.
    await coral.verify(await read_body(request), request.headers.get(SIGNATURE_HEADER))
    body = await parse(request, CoralPhaseIn)  # request.read() keeps the bytes
    answer = await coral.moderate(body.to_domain(), started=started)
    if answer is None:
        return web.Response(status=204)
    return web.json_response(answer)


@api.get(
    ADMIN_PATH,
    "Whether Coral's signing secret is stored, and who set it when (never the secret)",
    role="admin",
    response=CoralIntegrationOut,
)
@requires(Role.admin)
async def get_integration(request: web.Request) -> web.Response:
    return web.json_response(_settings_json(await request.app[CORAL].settings()))


@api.put(
    ADMIN_PATH,
    "Store the signing secret of Coral's External Moderation Phase",
    role="admin",
    response=CoralIntegrationOut,
    body=CoralSecretIn,
)
@requires(Role.admin)
async def put_integration(request: web.Request) -> web.Response:
    body = await parse(request, CoralSecretIn)
    settings = await request.app[CORAL].set_secret(request[API_KEY], body.signing_secret)
    return web.json_response(_settings_json(settings))
