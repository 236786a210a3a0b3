"""API keys: creation (shown once, stored as a SHA-256 digest), lookup, roles.

Keys are 256-bit random tokens, so a plain SHA-256 digest is enough to make a
stolen database useless for authenticating (no salt or slow hash is needed
for high-entropy secrets, unlike passwords).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from moderation.domain.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from moderation.domain.models import ApiKey, Role, utcnow
from moderation.domain.records import Page
from moderation.domain.scopes import valid_scope
from moderation.domain.text import text_problem
from moderation.storage.database import Database

#: A key says its power at a glance (a leaked ``adm_`` key is an emergency, a ``site_``
#: key much less of one). Keys are looked up by their digest, never by their prefix, so
#: keys made before prefixes told roles apart (all ``mod_``) keep working as they are.
KEY_PREFIXES: dict[Role, str] = {Role.site: "site_", Role.moderator: "mod_", Role.admin: "adm_"}
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_RATE_LIMIT = 1_000_000.0


@dataclass(frozen=True, slots=True)
class NewKey:
    key: ApiKey
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role[value]
    except KeyError:
        raise ValidationFailed(
            "role must be site, moderator or admin", code="invalid_role"
        ) from None


@dataclass(slots=True)
class Keys:
    """API keys: created, listed and revoked by admins (and the command line)."""

    db: Database

    async def create(
        self,
        name: str,
        role: Role,
        *,
        actor: str | ApiKey = "cli",
        rate_limit: float | None = None,
        scope: str | None = None,
    ) -> NewKey:
        """A new key; ``rate_limit`` (requests/s, 0 for none) overrides its role's default.

        ``scope`` (``domain/scopes.py``): the website whose data the key sees; None: the
        default scope. An admin key with a scope makes keys of its own scope only (absent:
        its own)."""
        scope = valid_scope(scope)
        if isinstance(actor, ApiKey) and actor.scope is not None:
            if scope is None:
                scope = actor.scope
            elif scope != actor.scope:
                raise Forbidden(
                    "a scoped admin key makes keys of its own scope only", code="scope_forbidden"
                )
        name = name.strip()
        if not name or len(name) > 200 or not name.isprintable():
            raise ValidationFailed(
                "a key name is 1 to 200 printable characters", code="invalid_name"
            )
        if rate_limit is not None and not 0 <= rate_limit <= MAX_RATE_LIMIT:
            raise ValidationFailed(
                f"rate_limit is requests per second, 0 (unlimited) to {MAX_RATE_LIMIT:,.0f}",
                code="invalid_rate_limit",
            )
        secret = KEY_PREFIXES[role] + secrets.token_urlsafe(32)
        async with self.db.transaction() as store:
            key = await store.add_key(
                secrets.token_hex(8), name, role, digest(secret), utcnow(), rate_limit, scope
            )
            details: dict[str, object] = {"name": name, "role": role.name}
            if rate_limit is not None:
                details["rate_limit"] = rate_limit
            if scope is not None:
                details["scope"] = scope
            await store.audit(actor, "key.create", key.id, details, utcnow(), scope=scope)
        return NewKey(key=key, secret=secret)

    async def listing(
        self, limit: int, after: Sequence[str] | None = None, *, scope: str | None = None
    ) -> Page[ApiKey]:
        """Every key for an admin of the default scope; a scoped admin's scope's only."""
        async with self.db.transaction(write=False) as store:
            return await store.list_keys(limit, after, scope=scope)

    async def revoke(self, key_id: str, *, actor: str | ApiKey = "cli") -> None:
        """Revoke at once: every process checks the database on every request. A scoped
        admin revokes keys of its own scope only (others are not found)."""
        scope = actor.scope if isinstance(actor, ApiKey) else None
        async with self.db.transaction() as store:
            if not await store.revoke_key(key_id, utcnow(), scope=scope):
                raise NotFound("no such active key", code="key_not_found")
            await store.audit(
                actor, "key.revoke", key_id, {}, utcnow(), scope=await store.key_scope(key_id)
            )


async def authenticate(db: Database, authorization: str | None) -> ApiKey:
    """The key named by an ``Authorization: Bearer`` header, or :class:`Unauthorized`."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <key> header", code="missing_key")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'", code="invalid_key")
    return await authenticate_token(db, token)


async def authenticate_token(db: Database, token: str) -> ApiKey:
    # Headers arrive decoded with surrogate escapes: bytes that are not UTF-8 (or a
    # lone surrogate) cannot be any key's secret, and would not even hash.
    if len(token) > 200 or text_problem(token):
        raise Unauthorized("unknown or revoked API key", code="invalid_key")
    key = await db.key_by_hash(digest(token))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("unknown or revoked API key", code="invalid_key")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # "Last used" to the minute: one write per key per minute, not one per request.
        async with db.transaction() as store:
            await store.touch_key(key.id, now)
    return key


def require(key: ApiKey, role: Role) -> None:
    if key.role < role:
        raise Forbidden(f"this needs the {role.name} role or higher", code="role_too_low")
