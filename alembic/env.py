"""Alembic environment.

`reflex db migrate` / `reflex db makemigrations` drive migrations through
Reflex's own runner; this file serves plain `alembic` commands and the test
fixtures. The URL is the ini's `sqlalchemy.url` when a caller set one, else
the app's own (`REFLEX_DB_URL` or the embedded SQLite file).
"""

from logging.config import fileConfig

import sqlalchemy as sa
from sqlmodel import SQLModel

import coach_app.models  # noqa: F401  (registers the tables)
from alembic import context
from coach_app.db import db_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or ""
    return db_url() if url.startswith("driver://") or not url else url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
