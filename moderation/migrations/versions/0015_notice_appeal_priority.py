"""notices and appeals ahead of every ordinary hold, reader reports included: their queue
floor rises from 1.1 to 1.6 (110 to 160), since an ordinary hold with five reader reports
reached 150; comments queued before keep their order among themselves

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# queue_codes is stored as ",a,b," (storage/statements.joined).
_NOTICE = "queue_codes LIKE '%,notice,%'"
_APPEAL = "queue_codes LIKE '%,appeal,%'"


def upgrade() -> None:
    # A notice's priority was 110 plus its reports' bonus: the same bonus on the new floor.
    op.execute(f"UPDATE comments SET priority = priority + 50 WHERE {_NOTICE}")
    # An appeal lifted a comment to at least 110: now to at least 160.
    op.execute(
        f"UPDATE comments SET priority = 160 WHERE {_APPEAL} AND NOT {_NOTICE} AND priority < 160"
    )


def downgrade() -> None:
    # Notices go back exactly; an appealed comment goes back to the old floor (110), so one
    # whose reader reports had put it higher loses that (until its next decision).
    op.execute(f"UPDATE comments SET priority = priority - 50 WHERE {_NOTICE}")
    op.execute(
        f"UPDATE comments SET priority = 110 WHERE {_APPEAL} AND NOT {_NOTICE} AND priority = 160"
    )
