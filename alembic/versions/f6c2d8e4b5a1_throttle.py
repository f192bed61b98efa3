"""Throttling of log-ins and bookings.

- throttle: one row per throttled key (an account's email hash, a client
  address, a coach's booking page): attempts counted since ``first_at``,
  the last one at ``last_at``, refused until ``blocked_until``.

Written by hand.

Revision ID: f6c2d8e4b5a1
Revises: 5602eaf08088
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "f6c2d8e4b5a1"
down_revision: str | Sequence[str] | None = "5602eaf08088"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "throttle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("throttle")
