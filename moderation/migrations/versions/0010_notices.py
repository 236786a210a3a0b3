"""notices under the EU Digital Services Act, Art. 16

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("comment_id", sa.String(length=265), nullable=False),
        sa.Column("scope", sa.String(length=64), server_default="", nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("legal_ground", sa.Text(), nullable=True),
        sa.Column("reporter_name", sa.Text(), nullable=True),
        sa.Column("reporter_email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notices_comment", "notices", ["comment_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_notices_comment", table_name="notices")
    op.drop_table("notices")
