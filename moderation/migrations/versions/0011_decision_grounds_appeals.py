"""the ground of a decision (guidelines or illegal content, EU Digital Services Act
Art. 17), the law a decision on illegal content cites, and the statement of reasons of a
restricting decision; appeals (Art. 20)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        # Every decision so far was taken on the guidelines.
        batch.add_column(
            sa.Column("ground", sa.String(length=16), server_default="guidelines", nullable=False)
        )
        batch.add_column(sa.Column("legal_ground", sa.Text(), nullable=True))
        batch.add_column(sa.Column("statement", sa.JSON(), nullable=True))
    op.create_table(
        "appeals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("comment_id", sa.String(length=265), nullable=False),
        sa.Column("scope", sa.String(length=64), server_default="", nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("appealed_by", sa.String(length=16), nullable=False),
        sa.Column("appealed_moderator_key_id", sa.String(length=32), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("moderator", sa.String(length=200), nullable=True),
        sa.Column("moderator_key_id", sa.String(length=32), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appeals_comment", "appeals", ["comment_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_appeals_comment", table_name="appeals")
    op.drop_table("appeals")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("statement")
        batch.drop_column("legal_ground")
        batch.drop_column("ground")
