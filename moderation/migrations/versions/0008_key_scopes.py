"""scopes: several websites on one service (a key's scope; comments and webhooks by scope)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing keys, comments and webhooks are the default scope's: NULL / '' as before.
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=64), nullable=True))
    with op.batch_alter_table("comments") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(length=64), server_default="", nullable=False)
        )
    op.create_index(
        "ix_comments_scope_queue", "comments", ["scope", "status", "priority", "created_at"]
    )
    op.create_index("ix_comments_scope_updated", "comments", ["scope", "updated_at"])
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Without its scope a scoped key would see the default scope, and a scoped webhook
    # would receive its events: both are revoked. Scoped comments stay, under their
    # stored ids ("<scope>/<id>"), which no API id can name.
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # SQLite keeps naive UTC (storage/tables.UTCDateTime)
    keys = sa.table(
        "api_keys",
        sa.column("scope", sa.String),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    webhooks = sa.table(
        "webhooks",
        sa.column("scope", sa.String),
        sa.column("deleted_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        sa.update(keys)
        .where(keys.c.scope.is_not(None), keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    op.execute(
        sa.update(webhooks)
        .where(webhooks.c.scope.is_not(None), webhooks.c.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("scope")
    op.drop_index("ix_comments_scope_updated", table_name="comments")
    op.drop_index("ix_comments_scope_queue", table_name="comments")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("scope")
