"""Sync engine state: back-off, server profile, cursor windows, skipped
entries, wipe confirmation and the content last pushed.

- calendar_connection.sync_failures: consecutive failed syncs (back-off).
- calendar_connection.server_profile: the CalDAV quirks profile found at
  discovery, so each sync need not identify the server again.
- sync_cursor.full_sync_at: when a full listing was last applied; recurring
  events are expanded over a window that slides, refreshed daily.
- sync_cursor.stored: the calendar's events are stored as of this cursor
  (a push calendar synced only for our own events is not), so turning
  storing on starts with a full listing.
- sync_cursor.skipped: unreadable entries (JSON), reported until fixed.
- sync_cursor.empty_since: a full listing came back empty while events were
  held locally; deletions are applied only once it stays empty.
- pushed_event.content_hash: what was last written, so an external edit is
  told apart from a same-content etag change and from our own echo.

Written by hand. NOT NULL columns get a server default so existing rows
fill in; the models declare none (Alembic does not compare server defaults).

Revision ID: d3a9c0e1f2b4
Revises: b7d1e4a2c9f0
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "d3a9c0e1f2b4"
down_revision: str | Sequence[str] | None = "b7d1e4a2c9f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calendar_connection") as batch:
        batch.add_column(
            sa.Column("sync_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column(
                "server_profile",
                sa.String(length=32),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("sync_cursor") as batch:
        batch.add_column(
            sa.Column("full_sync_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("stored", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("skipped", sa.String(), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("empty_since", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("pushed_event") as batch:
        batch.add_column(
            sa.Column(
                "content_hash",
                sa.String(length=64),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("pushed_event") as batch:
        batch.drop_column("content_hash")
    with op.batch_alter_table("sync_cursor") as batch:
        batch.drop_column("empty_since")
        batch.drop_column("skipped")
        batch.drop_column("stored")
        batch.drop_column("full_sync_at")
    with op.batch_alter_table("calendar_connection") as batch:
        batch.drop_column("server_profile")
        batch.drop_column("sync_failures")
