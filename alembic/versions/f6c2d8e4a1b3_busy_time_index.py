"""A covering index for reading a coach's busy time.

The booking page reads the start and end of a coach's busy pulled events
that overlap its horizon (``coach_id = ? AND "end" > ? AND start < ? AND
busy AND sub_calendar_id IN (…)``). The old index on (coach_id, start)
found them but fetched every row from the table; this one holds every
column the query needs, ordered by end so past events are skipped, and
replaces it (the coach's calendar page and the booking re-check use the
same range condition).

Written by hand.

Revision ID: f6c2d8e4a1b3
Revises: a7e3f9c1d2b6
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f6c2d8e4a1b3"
down_revision: str | Sequence[str] | None = "a7e3f9c1d2b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("external_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_external_event_coach_end",
            ["coach_id", "end", "start", "busy", "sub_calendar_id"],
            unique=False,
        )
        batch_op.drop_index("ix_external_event_coach_start")


def downgrade() -> None:
    with op.batch_alter_table("external_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_external_event_coach_start", ["coach_id", "start"], unique=False
        )
        batch_op.drop_index("ix_external_event_coach_end")
