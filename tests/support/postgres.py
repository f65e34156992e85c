"""A throwaway PostgreSQL cluster (and a PgBouncer in front of it) for the ledger tests.

``initdb`` and ``pg_ctl`` build and start a cluster in a temporary directory, listening on a
loopback port only (no Unix socket), tuned for tests (no fsync); the session stops it at the
end. Each test gets a database of its own. initdb, postgres and pgbouncer refuse to run as
root: under root (CI, containers) they run as the ``postgres`` system user instead.

Without PostgreSQL binaries the tests that need them are skipped with one line saying why;
with ``AUTOSUBS_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

from tests.support.servers import free_port

REQUIRE = "AUTOSUBS_REQUIRE_POSTGRES"
BIN_DIR = "AUTOSUBS_PG_BIN"  # where initdb/pg_ctl live, when not on PATH nor Debian's
_START_TIMEOUT = 30.0
_CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
"""
_BOUNCER_INI = """
[databases]
* = host=127.0.0.1 port={pg_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root}/userlist.txt
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = {root}/pgbouncer.log
pidfile =
"""


class Unavailable(Exception):
    """No PostgreSQL (or PgBouncer) can be started here; the message says why."""


_SKIP_PREFIX = "PostgreSQL tests skipped: "


def unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{REQUIRE}=1 but {reason}", pytrace=False)
    pytest.skip(f"{_SKIP_PREFIX}{reason} (apt-get install postgresql pgbouncer)")


def fold_skip(report: pytest.TestReport) -> None:
    """Give every "no PostgreSQL" skip this module's location, so ``-ra`` folds them into one
    line instead of one per test."""
    longrepr = report.longrepr
    reason = longrepr[2].removeprefix("Skipped: ") if isinstance(longrepr, tuple) else ""
    if report.skipped and isinstance(longrepr, tuple) and reason.startswith(_SKIP_PREFIX):
        report.longrepr = (__file__, 1, longrepr[2])


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: $AUTOSUBS_PG_BIN, PATH, else Debian's newest
    /usr/lib/postgresql/N/bin."""
    if os.environ.get(BIN_DIR):
        chosen = Path(os.environ[BIN_DIR])
        return chosen if (chosen / "initdb").exists() else None
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent

    def version(path: Path) -> int:
        match = re.search(r"/(\d+)/bin$", str(path))
        return int(match.group(1)) if match else 0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    return next((c for c in candidates if (c / "initdb").exists()), None)


@dataclass
class _RunAs:
    """Who runs the server processes: ourselves, or ``postgres`` when we are root."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def detect(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user") from None
        return cls(user.pw_uid, user.pw_gid)

    def kwargs(self, cwd: Path) -> dict[str, Any]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "LC_ALL": "C"}
        extra: dict[str, Any] = {"cwd": cwd, "env": env}
        if self.uid is not None:
            extra.update(user=self.uid, group=self.gid, extra_groups=[])
        return extra

    def own(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)


@dataclass
class Cluster:
    bin_dir: Path
    root: Path
    port: int
    run_as: _RunAs

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres", port: int | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT + 10,
            check=False,
            **self.run_as.kwargs(self.root),
        )
        if done.returncode != 0:
            log = self.root / "postgres.log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            raise Unavailable(f"{args[0]} {args[1]} failed: {done.stderr.strip()} {tail}".strip())

    def initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(_CONFIG.format(port=self.port))

    def _ctl(self, action: str) -> None:
        log = str(self.root / "postgres.log")
        timeout = str(int(_START_TIMEOUT))
        self._run("pg_ctl", action, "-D", str(self.data), "-l", log, "-w", "-t", timeout,
                  "-m", "fast")  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every open connection is cut."""
        self._ctl("restart")

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_cluster() -> Cluster:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise Unavailable("no PostgreSQL server binaries (initdb) found")
    run_as = _RunAs.detect()
    root = Path(tempfile.mkdtemp(prefix="autosubs-pg-"))
    run_as.own(root)
    cluster = Cluster(bin_dir=bin_dir, root=root, port=free_port(), run_as=run_as)
    try:
        cluster.initdb()
        cluster.start()
    except (Unavailable, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"could not start PostgreSQL from {bin_dir}: {exc}") from exc
    return cluster


@dataclass
class Bouncer:
    cluster: Cluster
    port: int
    process: subprocess.Popen[bytes]

    def url(self, dbname: str) -> str:
        return self.cluster.url(dbname, port=self.port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_bouncer(cluster: Cluster, **settings: str | int) -> Bouncer:
    """PgBouncer in transaction-pooling mode in front of ``cluster``, as Gcore runs it;
    ``settings`` are more ``[pgbouncer]`` lines (e.g. ``server_login_retry=1``)."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        raise Unavailable("no pgbouncer binary found")
    port = free_port()
    root = cluster.root
    (root / "userlist.txt").write_text('"postgres" ""\n')
    ini = root / "pgbouncer.ini"
    extra = "".join(f"{key} = {value}\n" for key, value in settings.items())
    ini.write_text(_BOUNCER_INI.format(pg_port=cluster.port, port=port, root=root) + extra)
    for path in (ini, root / "userlist.txt"):
        cluster.run_as.own(path)
    process = subprocess.Popen(
        [binary, str(ini)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **cluster.run_as.kwargs(root),
    )
    bouncer = Bouncer(cluster=cluster, port=port, process=process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = root / "pgbouncer.log"
            tail = log.read_text()[-1000:] if log.exists() else ""
            raise Unavailable(f"pgbouncer exited with {process.returncode}: {tail}")
        with contextlib.suppress(psycopg.OperationalError):
            psycopg.connect(bouncer.url("postgres"), connect_timeout=2).close()
            return bouncer
        time.sleep(0.05)
    bouncer.stop()
    raise Unavailable("pgbouncer did not accept connections within 10 s")


# --- fixtures (registered in tests/conftest.py) ----------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the whole session, or a skip (a failure under REQUIRE)."""
    try:
        cluster = start_cluster()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        yield cluster
    finally:
        with contextlib.suppress(Unavailable):
            cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_bouncer(pg_cluster: Cluster) -> Iterator[Bouncer]:
    """PgBouncer (pool_mode=transaction) in front of the session's cluster."""
    try:
        bouncer = start_bouncer(pg_cluster)
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        yield bouncer
    finally:
        bouncer.stop()


@pytest.fixture
def pg_database(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = pg_cluster.create_database()
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)
