"""ids wide enough for a scope: "<scope>/<id>" is up to 64 + 1 + 200 characters

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = (
    ("articles", "id"),
    ("authors", "id"),
    ("comments", "id"),
    ("comments", "article_id"),
    ("comments", "author_id"),
    ("comments", "parent_id"),
    ("decisions", "comment_id"),
    ("reports", "comment_id"),
    ("webhook_events", "comment_id"),
    ("shadow_decisions", "comment_id"),
)


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths; PostgreSQL does.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(length=265))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(length=200))
