"""Production hosts for scale-out tests and benchmarks, started as the README says.

Each host is `make serve WORKERS=n HOST=<address> PORT=<port>` (the
production start: PostgreSQL, Redis, granian workers, one port) in its own
process group, on a loopback address and a port of its own (127.0.0.1,
127.0.0.2, …): two machines' worth on one. The frontend each host builds
addresses the backend at `localhost:<its port>`, which the browser rewrites
to the page's own host name, so a page served by one host keeps its
websocket on that host.

Each host builds its frontend in a working directory of its own
(`REFLEX_WEB_WORKDIR`, a copy of the repository's `.web` whose
`node_modules` files are hard links), as separate machines would, and the development frontend
of other end-to-end tests is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get(
    "COACH_APP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("COACH_APP_TEST_REDIS", "redis://127.0.0.1:6379/9")


@dataclass
class Host:
    address: str
    port: int
    workers: int
    process: subprocess.Popen
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def health(self, timeout: float = 5.0) -> tuple[int, dict]:
        import json

        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def worker_pids(self, tries: int = 40) -> set[int]:
        """The worker processes answering on this host (new connection each)."""
        seen: set[int] = set()
        for _ in range(tries):
            status, body = self.health()
            if status == 200:
                seen.add(body["worker"])
            if len(seen) >= self.workers:
                break
        return seen

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    db_url: str
    env: dict[str, str]
    hosts: list[Host] = field(default_factory=list)
    _db_name: str = ""

    def stop(self) -> None:
        for host in self.hosts:
            _stop(host.process)
        self.hosts.clear()
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)'
            )
        admin.dispose()


def _free_port() -> int:
    # Reflex refuses a port that is taken on any address: ask for a wildcard one.
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _web_workdir(tmp: Path) -> Path:
    """A frontend working directory beside the repository's own."""
    web = tmp / "web"
    web.parent.mkdir(parents=True, exist_ok=True)
    source = ROOT / ".web"
    if source.exists():
        shutil.copytree(
            source,
            web,
            symlinks=True,
            ignore=shutil.ignore_patterns("node_modules", "build", ".react-router"),
        )
        if (source / "node_modules").exists():
            # Hard links: no second copy of the packages, and nothing done
            # to this tree (Reflex may clear a web directory) reaches theirs.
            shutil.copytree(
                source / "node_modules",
                web / "node_modules",
                symlinks=True,
                copy_function=os.link,
            )
    return web


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the group this module started
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def start_cluster(
    tmp: Path,
    layout: list[tuple[str, int]],
    extra_env: dict[str, str] | None = None,
    timeout: float = 600.0,
) -> Cluster:
    """A fresh PostgreSQL database, one Redis prefix, and one host per
    (address, workers) of `layout`, started one after the other."""
    from cryptography.fernet import Fernet

    name = f"coach_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ,
        "REFLEX_DB_URL": db_url,
        "REFLEX_REDIS_URL": REDIS,
        "COACH_APP_REDIS_PREFIX": f"test-{uuid.uuid4().hex[:10]}",
        "COACH_APP_SECRET_KEYS": Fernet.generate_key().decode(),
        "COACH_APP_MAIL_DIR": str(tmp / "mail"),
        **(extra_env or {}),
    }
    for key in ("COACH_APP_KEY_FILE", "COACH_APP_SMTP_HOST", "PYTEST_CURRENT_TEST"):
        env.pop(key, None)
    cluster = Cluster(db_url, env, _db_name=name)
    try:
        for address, workers in layout:
            port = _free_port()
            log = tmp / f"host-{address}.log"
            # Like separate machines: each host builds its own frontend.
            own = tmp / f"host-{address}"
            host_env = {
                **env,
                "REFLEX_WEB_WORKDIR": str(_web_workdir(own)),
                "REFLEX_STATES_WORKDIR": str(own / "states"),
            }
            process = subprocess.Popen(
                [
                    "make",
                    "--no-print-directory",
                    "serve",
                    f"WORKERS={workers}",
                    f"HOST={address}",
                    f"PORT={port}",
                ],
                cwd=ROOT,
                env=host_env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            host = Host(address, port, workers, process, log)
            cluster.hosts.append(host)
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"host {address} exited:\n{host.tail()}")
                try:
                    if host.health(timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"host {address} not healthy:\n{host.tail()}")
                time.sleep(1)
    except BaseException:
        cluster.stop()
        raise
    return cluster
