"""Checks and database migration before a production start (several workers).

`scripts/serve-production.sh` (and `make serve`) runs `python -m
coach_app.production` before handing over to `reflex run --env prod
--single-port`. It refuses, in plain words, a configuration that would
misbehave with several workers or hosts, then applies the migrations once:

- `REFLEX_DB_URL` must be PostgreSQL (SQLite is the one-process default) and
  reachable;
- `REFLEX_REDIS_URL` must be set and answer: Reflex keeps page state there,
  and live updates travel between workers through it;
- `COACH_APP_SECRET_KEYS` must hold valid Fernet keys: every worker and host
  must encrypt and decrypt calendar secrets with the same keys (a key file
  per host would not be shared);
- the migrations run under a PostgreSQL advisory lock, so hosts starting at
  the same moment migrate one after the other (the later ones find nothing
  to do).

Exit status 2 with a message on stderr when something is wrong.
"""

from __future__ import annotations

import os
import sys

import sqlalchemy as sa

from coach_app.migrations import upgrade

# Any constant shared by every host; "coach" in ASCII.
MIGRATION_LOCK = 0x636F616368


class ConfigError(Exception):
    pass


def _key_hint() -> str:
    return (
        "Generate one with: .venv/bin/python -c 'from cryptography.fernet "
        "import Fernet; print(Fernet.generate_key().decode())' and give every "
        "host the same value."
    )


def check_environment(env: dict[str, str] | None = None) -> tuple[str, str]:
    """(database URL, Redis URL), or `ConfigError` saying what to fix."""
    env = dict(os.environ if env is None else env)
    db_url = env.get("REFLEX_DB_URL", "").strip()
    if not db_url:
        raise ConfigError(
            "REFLEX_DB_URL is not set. Several workers need PostgreSQL, e.g. "
            "REFLEX_DB_URL=postgresql+psycopg://coach:password@db-host:5432/coach"
        )
    if not db_url.startswith("postgresql"):
        raise ConfigError(
            "REFLEX_DB_URL must point at PostgreSQL (postgresql+psycopg://...): "
            "SQLite is for the embedded one-process default (make run)."
        )
    redis_url = env.get("REFLEX_REDIS_URL", "").strip()
    if not redis_url:
        raise ConfigError(
            "REFLEX_REDIS_URL is not set. Several workers need Redis for page "
            "state and live updates, e.g. REFLEX_REDIS_URL=redis://redis-host:6379/0"
        )
    keys = [k.strip() for k in env.get("COACH_APP_SECRET_KEYS", "").split(",")]
    keys = [k for k in keys if k]
    if not keys:
        raise ConfigError(
            "COACH_APP_SECRET_KEYS is not set. Every worker and host must "
            "encrypt calendar passwords and tokens with the same keys. " + _key_hint()
        )
    from cryptography.fernet import Fernet

    for number, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                f"COACH_APP_SECRET_KEYS: key {number} is not a Fernet key "
                "(32 url-safe base64-encoded bytes). " + _key_hint()
            ) from None
    return db_url, redis_url


def _check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except Exception as exc:
        raise ConfigError(f"Redis at REFLEX_REDIS_URL does not answer: {exc}") from None


def migrate(db_url: str) -> None:
    """Apply the migrations; concurrent starts take turns."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            try:
                upgrade(db_url)
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
    except sa.exc.OperationalError as exc:
        raise ConfigError(
            f"PostgreSQL at REFLEX_DB_URL cannot be reached: {exc.orig}"
        ) from None
    finally:
        engine.dispose()


def main() -> int:
    try:
        db_url, redis_url = check_environment()
        _check_redis(redis_url)
        migrate(db_url)
    except ConfigError as exc:
        print(f"coach-app: {exc}", file=sys.stderr)
        return 2
    print("coach-app: configuration checked, database up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
