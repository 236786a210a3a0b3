"""Perspective suggestions carry the scope of the key that sent them: learning learns
from its own website's suggestions, and one website's suggestion for a (community,
client token, attribute) no longer replaces another website's

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_OLD = ("community_id", "client_token", "attribute")


def upgrade() -> None:
    with op.batch_alter_table("perspective_feedback") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=64), nullable=True))
        batch.drop_constraint("uq_perspective_feedback_token", type_="unique")
        batch.create_unique_constraint("uq_perspective_feedback_token", ["scope", *_OLD])
    # A suggestion stored before was recorded with its key's name only. Where every key
    # of that name had one scope ('' the default), the suggestion is that scope's; where
    # keys of several scopes shared the name, it stays NULL and teaches no website, as
    # learning already treated it: one website's text is never shown to another.
    op.execute(
        "UPDATE perspective_feedback SET scope = (SELECT COALESCE(MIN(k.scope), '') "
        "FROM api_keys k WHERE k.name = perspective_feedback.key_name) "
        "WHERE (SELECT COUNT(DISTINCT COALESCE(k.scope, '')) FROM api_keys k "
        "WHERE k.name = perspective_feedback.key_name) = 1"
    )


def downgrade() -> None:
    # The older key has no scope: of suggestions for the same (community, token,
    # attribute) from several scopes, the newest is kept.
    op.execute(
        "DELETE FROM perspective_feedback WHERE client_token IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM perspective_feedback later "
        "WHERE later.client_token = perspective_feedback.client_token "
        "AND later.attribute = perspective_feedback.attribute "
        "AND COALESCE(later.community_id, '') = COALESCE(perspective_feedback.community_id, '') "
        "AND later.id > perspective_feedback.id)"
    )
    with op.batch_alter_table("perspective_feedback") as batch:
        batch.drop_constraint("uq_perspective_feedback_token", type_="unique")
        batch.create_unique_constraint("uq_perspective_feedback_token", list(_OLD))
        batch.drop_column("scope")
