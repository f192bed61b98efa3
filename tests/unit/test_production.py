"""The production start refuses a configuration unfit for several workers."""

from __future__ import annotations

import threading

import pytest
from cryptography.fernet import Fernet

from coach_app import production

PG = "postgresql+psycopg://coach@db-host:5432/coach"
REDIS = "redis://redis-host:6379/0"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "REFLEX_DB_URL is not set"),
        ({"REFLEX_DB_URL": "sqlite:///coach_app.db"}, "must point at PostgreSQL"),
        ({"REFLEX_DB_URL": PG}, "REFLEX_REDIS_URL is not set"),
        ({"REFLEX_DB_URL": PG, "REFLEX_REDIS_URL": REDIS}, "COACH_APP_SECRET_KEYS is"),
        (
            {
                "REFLEX_DB_URL": PG,
                "REFLEX_REDIS_URL": REDIS,
                "COACH_APP_SECRET_KEYS": "not-a-key",
            },
            "key 1 is not a Fernet key",
        ),
    ],
)
def test_what_is_missing_is_said_plainly(env, says):
    with pytest.raises(production.ConfigError, match=says):
        production.check_environment(env)


def test_a_complete_configuration_passes():
    keys = f"{Fernet.generate_key().decode()}, {Fernet.generate_key().decode()}"
    env = {
        "REFLEX_DB_URL": PG,
        "REFLEX_REDIS_URL": REDIS,
        "COACH_APP_SECRET_KEYS": keys,
    }
    assert production.check_environment(env) == (PG, REDIS)


@pytest.mark.postgres
def test_hosts_migrating_together_take_turns():
    """Three starts migrate one empty database at the same moment."""
    import os
    import uuid

    import sqlalchemy as sa

    admin_url = os.environ.get(
        "COACH_APP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )

    name = f"coach_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            production.migrate(url)
        except BaseException as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=start) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM coach").scalar() == 0
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
