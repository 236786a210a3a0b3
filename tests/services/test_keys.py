"""API keys (moderation/services/keys.py): a new key's prefix says its role; keys made
before prefixes told roles apart (all ``mod_``) keep working, since keys are found by
their digest."""

from __future__ import annotations

import secrets

import pytest

from moderation.domain.errors import Unauthorized
from moderation.domain.models import Role, utcnow
from moderation.services.keys import Keys, authenticate, authenticate_token, digest
from moderation.storage.database import Database


@pytest.mark.parametrize(
    ("role", "prefix"),
    [(Role.site, "site_"), (Role.moderator, "mod_"), (Role.admin, "adm_")],
)
async def test_a_new_key_is_prefixed_by_its_role(
    database: Database, role: Role, prefix: str
) -> None:
    created = await Keys(database).create(f"{role.name}-key", role)
    assert created.secret.startswith(prefix)
    assert len(created.secret) > len(prefix) + 40  # 256 random bits after the prefix
    found = await authenticate(database, f"Bearer {created.secret}")
    assert (found.id, found.role) == (created.key.id, role)


async def test_keys_made_before_role_prefixes_keep_their_role(database: Database) -> None:
    """Every key used to start with ``mod_``: an old admin key is still an admin's."""
    old_admin = "mod_" + secrets.token_urlsafe(32)
    old_site = "mod_" + secrets.token_urlsafe(32)
    async with database.transaction() as store:
        await store.add_key("old-adm", "ops", Role.admin, digest(old_admin), utcnow())
        await store.add_key("old-site", "www", Role.site, digest(old_site), utcnow())
    assert (await authenticate_token(database, old_admin)).role == Role.admin
    assert (await authenticate_token(database, old_site)).role == Role.site


async def test_the_prefix_alone_grants_nothing(database: Database) -> None:
    created = await Keys(database).create("ops", Role.admin)
    # Another role's prefix on the same random part is another token: unknown.
    forged = "site_" + created.secret.removeprefix("adm_")
    with pytest.raises(Unauthorized):
        await authenticate_token(database, forged)
