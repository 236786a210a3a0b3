"""per-key rate limits; service instances (shared rate limits)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rate_limit", sa.Float(), nullable=True))
    op.create_table(
        "service_instances",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_service_instances_heartbeat_at", "service_instances", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_service_instances_heartbeat_at", table_name="service_instances")
    op.drop_table("service_instances")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_limit")
