"""Models and migrations agree, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import coach_app.models  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def _diff(url: str) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()


def test_migrated_database_matches_models(any_db_url):
    assert _diff(any_db_url) == []


def test_reflex_makemigrations_finds_nothing_new(tmp_path):
    """Runs the real `reflex db migrate` + `reflex db makemigrations` on a copy."""
    for name in ("rxconfig.py", "alembic.ini"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "alembic", tmp_path / "alembic")
    before = sorted(p.name for p in (tmp_path / "alembic" / "versions").glob("*.py"))
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "REFLEX_DB_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "PYTHONPATH": str(ROOT),
        "REFLEX_TELEMETRY_ENABLED": "false",
    }
    for args in (["db", "migrate"], ["db", "makemigrations", "--message", "probe"]):
        done = subprocess.run(
            [str(bin_dir / "reflex"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    after = sorted(p.name for p in (tmp_path / "alembic" / "versions").glob("*.py"))
    assert after == before
