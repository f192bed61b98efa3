"""Engine and sessions, without Reflex, so services and tests share them.

The URL comes from `REFLEX_DB_URL` (the same variable Reflex reads), else the
embedded SQLite file `coach_app.db` in the working directory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from sqlmodel import Session

log = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///coach_app.db"

_engines: dict[str, sa.Engine] = {}


def db_url() -> str:
    return os.environ.get("REFLEX_DB_URL") or DEFAULT_DB_URL


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers proceed while one writer holds the lock; the busy
    # timeout makes concurrent writers queue instead of failing at once.
    # isolation_level=None hands transaction control to our explicit BEGINs.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so a check-then-insert
    # inside one transaction cannot interleave with another writer's.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> sa.Engine:
    url = url or db_url()
    engine = _engines.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            engine = sa.create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}
            )
            sa.event.listen(engine, "connect", _on_sqlite_connect)
            sa.event.listen(engine, "begin", _on_sqlite_begin)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        _engines[url] = engine
    return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def dispose_all() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


_AFTER_COMMIT = "coach_app.after_commit"


def after_commit(
    session: sa.orm.Session, key: Hashable, callback: Callable[[], Any]
) -> None:
    """Run ``callback`` once, after the transaction ``session`` is in commits.

    Registered twice under one ``key``, it still runs once. Dropped if the
    transaction rolls back; a released SAVEPOINT is not the commit.
    """
    session.info.setdefault(_AFTER_COMMIT, {})[key] = callback


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _run_after_commit(session: sa.orm.Session) -> None:
    if session.in_nested_transaction():
        return
    for callback in session.info.pop(_AFTER_COMMIT, {}).values():
        try:
            callback()
        except Exception:
            log.exception("after-commit callback %r failed", callback)


@sa.event.listens_for(sa.orm.Session, "after_soft_rollback")
def _drop_after_commit(session: sa.orm.Session, _previous: object) -> None:
    if not session.in_transaction():  # a SAVEPOINT's rollback keeps the rest
        session.info.pop(_AFTER_COMMIT, None)
