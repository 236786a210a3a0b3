"""the live queue: its change feed (queue_changes) and single-use stream tokens

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("comment_id", sa.String(length=265), nullable=False),
        sa.Column("scope", sa.String(length=64), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("actor_key_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # Ids never go back on SQLite, even when pruning empties the table.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_queue_changes_at", "queue_changes", ["at"])
    op.create_table(
        "stream_tokens",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_stream_tokens_expires_at", "stream_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_stream_tokens_expires_at", table_name="stream_tokens")
    op.drop_table("stream_tokens")
    op.drop_index("ix_queue_changes_at", table_name="queue_changes")
    op.drop_table("queue_changes")
