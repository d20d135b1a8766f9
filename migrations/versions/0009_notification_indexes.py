"""notification: no index of loan_id beside the unique key; hold and librarian ids only
where they are set

Revision ID: 9b5c6d7e8f9a
Revises: 8a4b5c6d7e8f
Create Date: 2026-12-03 17:30:00

Every notification row was written into eight indexes. `ix_notification_loan_id`
repeated the first column of `uq_notification_once_per_period`, which serves any lookup
by loan. `hold_id` and `librarian_id` are NULL in a loan's notices (nearly every row), so
their indexes now hold only the rows that have one; a lookup by a hold or a librarian
(`hold_id = ?` implies `IS NOT NULL`) still uses them, on both databases. The first
`reminders run` over 100,000 open loans inserts 87,000 rows (issue 8); each issue inserts
its "borrowed" notices.

Rebuilding the two indexes locks the table against writes for as long as it takes.
"""

import sqlalchemy as sa
from alembic import op

revision = "9b5c6d7e8f9a"
down_revision = "8a4b5c6d7e8f"
branch_labels = None
depends_on = None

PARTIAL = ("hold_id", "librarian_id")


def _where(column):
    known = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": known, "postgresql_where": known}


def upgrade():
    op.drop_index("ix_notification_loan_id", table_name="notification")
    for column in PARTIAL:
        op.drop_index(f"ix_notification_{column}", table_name="notification")
        op.create_index(f"ix_notification_{column}", "notification", [column], **_where(column))


def downgrade():
    for column in PARTIAL:
        op.drop_index(f"ix_notification_{column}", table_name="notification")
        op.create_index(f"ix_notification_{column}", "notification", [column])
    op.create_index("ix_notification_loan_id", "notification", ["loan_id"])
