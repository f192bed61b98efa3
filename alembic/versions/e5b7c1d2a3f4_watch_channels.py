"""Push-notification channels (Google ``events.watch``).

- watch_channel: one row per live channel of a sub-calendar; the webhook
  finds it by ``channel_id`` and checks ``token``; the engine renews it
  before ``expires_at`` and stops it on disconnect. Rows go with their
  connection or sub-calendar (ON DELETE CASCADE), so a disconnect that
  forgot to stop them still succeeds.

Written by hand.

Revision ID: e5b7c1d2a3f4
Revises: d3a9c0e1f2b4
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "e5b7c1d2a3f4"
down_revision: str | Sequence[str] | None = "d3a9c0e1f2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_channel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("sub_calendar_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column(
            "resource_id", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False
        ),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column(
            "address", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["calendar_connection.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sub_calendar_id"], ["sub_calendar.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_id"),
    )
    with op.batch_alter_table("watch_channel", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_watch_channel_connection_id"),
            ["connection_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_watch_channel_sub_calendar_id"),
            ["sub_calendar_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("watch_channel", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watch_channel_sub_calendar_id"))
        batch_op.drop_index(batch_op.f("ix_watch_channel_connection_id"))
    op.drop_table("watch_channel")
