"""No two confirmed appointments of one coach may overlap; invitee time zone.

The invitee's time zone is kept on the appointment so that later emails
(rescheduled, cancelled) show times the way the client chose to see them.

An exclusion constraint over the appointment's time range is the last line
of the double-booking guard (the booking transaction re-checks first, under a
row lock on the coach). SQLite has no such constraint: there every write
transaction starts with BEGIN IMMEDIATE, which serialises the re-check and
the insert.

Revision ID: b7d1e4a2c9f0
Revises: c14c506985e7
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "b7d1e4a2c9f0"
down_revision: str | Sequence[str] | None = "c14c506985e7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointment") as batch:
        batch.add_column(
            sa.Column(
                "invitee_timezone",
                sa.String(length=64),
                nullable=False,
                server_default="",
            )
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "ALTER TABLE appointment ADD CONSTRAINT appointment_no_overlap "
        "EXCLUDE USING gist (coach_id WITH =, tstzrange(start, \"end\", '[)') WITH &&) "
        "WHERE (status = 'confirmed')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE appointment DROP CONSTRAINT appointment_no_overlap")
    with op.batch_alter_table("appointment") as batch:
        batch.drop_column("invitee_timezone")
