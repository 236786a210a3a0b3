"""the audit log's target wide enough for a stored id: "<scope>/<id>" is up to 64 + 1 +
200 characters (an author's standing set through a scoped key, or premoderated
automatically, names that author)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite does not enforce VARCHAR lengths; PostgreSQL does.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("audit_log", "target", type_=sa.String(length=265))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # A target longer than the old width would not fit: cut it, as the old schema would
    # have refused it.
    op.execute("UPDATE audit_log SET target = left(target, 200) WHERE length(target) > 200")
    op.alter_column("audit_log", "target", type_=sa.String(length=200))
