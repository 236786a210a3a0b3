"""the audit log's scope: a scoped admin reads what every scope shares (the guidelines,
shadow runs, integrations) and its own website's entries (its keys, webhooks and
authors), no longer every website's

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=64), nullable=True))
        batch.create_index("ix_audit_scope", ["scope"])
    # Entries written before: the changed resource's scope where it can be told ('' is
    # the default scope); the shared ones (guidelines, shadow runs, integrations) stay NULL.
    op.execute(
        "UPDATE audit_log SET scope = COALESCE((SELECT k.scope FROM api_keys k "
        "WHERE k.id = audit_log.target), '') WHERE action LIKE 'key.%'"
    )
    # A deleted webhook's row is kept (deleted_at), so its scope can be told too.
    op.execute(
        "UPDATE audit_log SET scope = COALESCE((SELECT w.scope FROM webhooks w "
        "WHERE w.id = audit_log.target), '') WHERE action LIKE 'webhook.%'"
    )
    # An author's stored id is "<scope>/<id>" outside the default scope (domain/scopes.py).
    op.execute(
        "UPDATE audit_log SET scope = CASE WHEN target LIKE '%/%' "
        "THEN substr(target, 1, instr(target, '/') - 1) ELSE '' END "
        "WHERE action LIKE 'author.%'"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE audit_log SET scope = CASE WHEN target LIKE '%/%' "
        "THEN split_part(target, '/', 1) ELSE '' END WHERE action LIKE 'author.%'"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_scope")
        batch.drop_column("scope")
