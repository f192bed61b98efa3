"""One-time log-in hand-over tickets (HttpOnly session cookie).

- login_handover: the SHA-256 of a ticket that a successful log-in or
  sign-up gives the browser, to be traded within a minute, once, at the
  backend endpoint that sets the HttpOnly session cookie.

Written by hand.

Revision ID: a7e3f9c1d2b6
Revises: f6c2d8e4b5a1
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "a7e3f9c1d2b6"
down_revision: str | Sequence[str] | None = "f6c2d8e4b5a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_handover",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coach_id", sa.Integer(), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["coach_id"], ["coach.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_hash"),
    )
    with op.batch_alter_table("login_handover", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_handover_coach_id"), ["coach_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_handover", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_handover_coach_id"))
    op.drop_table("login_handover")
