"""Appointment type description, shown on the booking page's type cards.

Generated with `reflex db makemigrations`, reviewed by hand: the column type
is plain `sa.String`, and existing rows get an empty description through the
server default, so the column can be NOT NULL on SQLite and PostgreSQL alike.

Revision ID: 5602eaf08088
Revises: e5b7c1d2a3f4
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "5602eaf08088"
down_revision: str | Sequence[str] | None = "e5b7c1d2a3f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointment_type", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "description",
                sa.String(length=1000),
                server_default="",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("appointment_type", schema=None) as batch_op:
        batch_op.drop_column("description")
