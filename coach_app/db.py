"""Engine and sessions, without Reflex, so services and tests share them.

The URL comes from `REFLEX_DB_URL` (the same variable Reflex reads), else the
embedded SQLite file `coach_app.db` in the working directory.

Two kinds of transactions:

- `session_scope()` for anything that writes. On SQLite it starts with
  `BEGIN IMMEDIATE`, taking the database's single write lock up front, so a
  check-then-insert (the booking guarantee, a lease claim) cannot interleave
  with another writer's.
- `read_scope()` / `read_connection()` for work that only reads: booking
  page refreshes, the coach's calendar, live updates. On SQLite they run on
  a separate pool whose connections are `query_only` and start a plain
  (deferred) `BEGIN`: in WAL mode such a reader sees one consistent snapshot
  and neither waits for nor blocks a writer, so a sync writing 10,000 events
  never makes a booking page wait. On PostgreSQL, MVCC already gives that;
  readers use the same engine.
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
_read_engines: dict[str, sa.Engine] = {}


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


def _on_sqlite_read_connect(dbapi_conn: Any, record: Any) -> None:
    _on_sqlite_connect(dbapi_conn, record)
    # A reader can never write, not even by mistake: a write raises at once
    # instead of silently taking the lock the readers promised to leave alone.
    dbapi_conn.execute("PRAGMA query_only=ON")


def _on_sqlite_read_begin(conn: sa.Connection) -> None:
    # Deferred: a read transaction takes no lock; in WAL mode it reads the
    # snapshot of its first SELECT until it ends.
    conn.exec_driver_sql("BEGIN")


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


def is_sqlite(url: str | None = None) -> bool:
    return (url or db_url()).startswith("sqlite")


def get_read_engine(url: str | None = None) -> sa.Engine:
    """The engine for read-only work (see the module docstring)."""
    url = url or db_url()
    if not is_sqlite(url):
        return get_engine(url)
    engine = _read_engines.get(url)
    if engine is None:
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        sa.event.listen(engine, "connect", _on_sqlite_read_connect)
        sa.event.listen(engine, "begin", _on_sqlite_read_begin)
        _read_engines[url] = engine
    return engine


@contextmanager
def read_scope(url: str | None = None) -> Iterator[Session]:
    """A session for reading only; it never takes SQLite's write lock.

    Nothing commits: closing it at the end hands the connection back, whose
    transaction the pool rolls back. The rows read stay readable (detached,
    not expired), like those of `session_scope`.
    """
    with Session(get_read_engine(url), expire_on_commit=False) as session:
        yield session


@contextmanager
def read_connection(url: str | None = None) -> Iterator[Any]:
    """A DB-API connection for reading (the hot path: no ORM, no result
    processing). On SQLite its statements share one snapshot (a deferred
    transaction); on PostgreSQL it runs in autocommit, each statement with
    its own snapshot, as under READ COMMITTED anyway. Parameters use the
    driver's own style: see `placeholder`."""
    engine = get_read_engine(url)
    raw = engine.raw_connection()
    driver: Any = raw.driver_connection
    sqlite = engine.dialect.name == "sqlite"
    try:
        if sqlite:
            driver.execute("BEGIN")
        else:
            # Under READ COMMITTED each statement has its own snapshot in or
            # out of a transaction: skip the BEGIN and ROLLBACK round trips.
            driver.autocommit = True
        yield raw
    finally:
        try:
            if sqlite:
                raw.rollback()
            else:
                driver.autocommit = False
        finally:
            raw.close()


def placeholder(url: str | None = None) -> str:
    """The driver's parameter marker: `?` for sqlite3, `%s` for psycopg."""
    return "?" if is_sqlite(url) else "%s"


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
    for engine in [*_engines.values(), *_read_engines.values()]:
        engine.dispose()
    _engines.clear()
    _read_engines.clear()


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
