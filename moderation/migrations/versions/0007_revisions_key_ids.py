"""comment revisions; the key id beside the key name in decisions and the audit log;
one active key per name and role

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("comments") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
    # Every decision so far was a revision.
    op.execute(
        "UPDATE comments SET revision = "
        "(SELECT count(*) FROM decisions WHERE decisions.comment_id = comments.id)"
    )
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("moderator_key_id", sa.String(length=32), nullable=True))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("actor_key_id", sa.String(length=32), nullable=True))
    # Active keys that share a name and role keep it apart by their id, then the index holds.
    keys = sa.table(
        "api_keys",
        sa.column("id", sa.String),
        sa.column("name", sa.String),
        sa.column("role", sa.String),
        sa.column("revoked_at", sa.DateTime),
        sa.column("created_at", sa.DateTime),
    )
    connection = op.get_bind()
    seen: set[tuple[str, str]] = set()
    rows = connection.execute(
        sa.select(keys.c.id, keys.c.name, keys.c.role)
        .where(keys.c.revoked_at.is_(None))
        .order_by(keys.c.created_at, keys.c.id)
    )
    for key_id, name, role in list(rows):
        if (role, name) in seen:
            connection.execute(
                sa.update(keys).where(keys.c.id == key_id).values(name=f"{name} ({key_id})")
            )
        seen.add((role, name))
    op.create_index(
        "uq_api_keys_active_name",
        "api_keys",
        ["role", "name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_api_keys_active_name", table_name="api_keys")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("actor_key_id")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("moderator_key_id")
    with op.batch_alter_table("comments") as batch:
        batch.drop_column("revision")
