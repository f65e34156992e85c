"""Benchmark: 10,000 videos x 3 languages in flight, on SQLite and on PostgreSQL.

Not a test: run ``.venv/bin/python bench/scale.py`` (about 10 minutes, both backends).

For each backend (a SQLite file; a throwaway PostgreSQL cluster on 127.0.0.1 that this script
starts with the tests' helper and stops by PID, skipped with one line when the server binaries
are missing):

- the Gcore simulator runs in this process (uvicorn on a socket bound up front, as in
  ``autosubs demo``) at ``time_scale`` 0.1: an AI task lives 1-11 s, about as long as the
  service holds a task slot, so the account really fills up to the cap;
- the real service runs as a subprocess, started like production: ``python -m handler serve``
  (webhook route + sweeper, ``AUTOSUBS_MAX_ACTIVE_TASKS`` unset, i.e. its default 50), with
  the simulator as ``GCORE_BASE_URL`` and its signed webhook URL given to the simulator;
- 10,000 videos are uploaded with ``/_sim/upload``'s own code (called in-process, paced so
  that at most 32 webhooks are due and unanswered); the simulator announces each video's
  lifecycle (empty, pending, viewable, ready) to the service's webhook route over HTTP, and
  the sweeper plans each video into 3 track jobs (spoken English + French + German): 30,000
  track jobs;
- every second the script samples the service's RSS (VmRSS, with its SQLite writer process),
  the AI tasks not terminal on the simulated account (read from the simulator in-process:
  ``/_sim/state`` would be a multi-MB dump at this size) and the ledger's own count of tasks
  in flight (a second ledger connection); once all 30,000 track jobs are in the ledger it
  prints ``explain_claim()`` (the sweeper's track claim) with the tables full, and again at
  the end (on PostgreSQL also after an explicit ANALYZE, with the autovacuum statistics of the
  moment).

The load runs ``--duration`` seconds (seeding included), stretched by up to a minute so that
at least a minute of it comes after the ledger is full; it need not finish the 30,000 tracks.

Targets: all 30,000 track jobs in the ledger (the set-up itself); the claim plan uses the
``tracks_due`` index and never scans ``tracks`` sequentially; the service's peak RSS
(VmHWM) < 150 MB; never more than 50 AI tasks in flight on the account (exact peak from the
simulator's task timelines) and no queue-limit refusal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import heapq
import itertools
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from machine import machine_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handler import tokens
from handler.config import Settings
from handler.ledger import TRACK_TERMINAL_STATES, LedgerProtocol, open_ledger
from handler.simulator import SimulatorConfig, create_simulator_app
from handler.simulator.api_control import upload_spec
from handler.simulator.state import SimState
from handler.simulator.videos import Video

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-scale-key"
VIDEOS = 10_000
AUDIO_LANGUAGE = "eng"  # fixed: all three track jobs of a video are due at once
LANGUAGES = ("fre", "ger")
TRACKS_PER_VIDEO = 1 + len(LANGUAGES)
TIME_SCALE = 0.1
DEFAULT_DURATION = 270.0
MIN_STEADY = 60.0  # seconds of load after the last track job is in the ledger
EXTRA_TIME = 60.0  # how much longer than --duration a slow seeding may stretch a run
RSS_TARGET_MB = 150.0
MAX_ACTIVE = int(Settings.model_fields["max_active_tasks"].default)  # the service's default
GCORE_QUEUE_LIMIT = 100
# Production polls no faster than every 2 s; tasks here last about 1 s, so 1 s keeps the
# queue turning without being unrealistic.
POLL_FLOOR = 1.0
# 5 requests/s (production default) would take ~70 min just to look at 10,000 videos once;
# the simulator is local, so the rate limit is lifted and the task cap is what paces the work.
GCORE_RPS = 1000.0
# Webhooks whose moment has come but whose POST has not been answered yet. Bounded so that
# the simulator's httpx pool stays small: hundreds of queued requests make httpcore's pool
# bookkeeping quadratic and churn connections (it keeps 20 alive).
MAX_WEBHOOKS_IN_FLIGHT = 32
SAMPLE_EVERY = 1.0
COUNT_EVERY = 2.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 45.0  # the service's own grace: 20 s for the sweep pass + uvicorn's 10 s
SEED = 20261126

_TASK_PATH = re.compile(r"^/streaming/ai/tasks/[0-9a-fA-F-]{36}$")
_VIDEO_PATH = re.compile(r"^/streaming/videos/\d+(/subtitles)?$")


def code_version() -> dict[str, Any]:
    """The commit measured, and which files of the service differed from it (others commit
    to this tree concurrently: the result says exactly what ran)."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = git("status", "--porcelain", "--", "handler", "pyproject.toml").splitlines()
        return {"commit": git("rev-parse", "HEAD"), "uncommitted": [d.strip() for d in dirty]}
    return {}


def load_average() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``/proc/<pid>/status`` figure in kB (VmRSS, VmHWM), None once the process is gone."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    return None


def service_status_kb(pid: int, key: str) -> int | None:
    """``proc_status_kb`` of the service plus its children (the SQLite ledger's writer
    process): the memory the service costs. For VmHWM this is the sum of the peaks, an
    upper bound of the joint peak."""
    own = proc_status_kb(pid, key)
    if own is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        own += sum(proc_status_kb(int(child), key) or 0 for child in children)
    return own


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


@dataclass
class Service:
    """``python -m handler serve`` in a subprocess of this script."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, client: httpx.AsyncClient) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the service exited with {self.process.returncode}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{self.base}/readyz", timeout=2.0)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the service was not ready within {START_TIMEOUT:.0f} s")

    async def stop(self) -> dict[str, Any]:
        """SIGTERM (graceful: the sweeper hands its leases back), SIGKILL after STOP_TIMEOUT.

        Async on purpose: the simulator lives on this event loop and must keep answering the
        calls of the sweep pass that is finishing.
        """
        if self.process.poll() is not None:
            return {"exit_code": self.process.returncode, "seconds": 0.0, "killed": False}
        started = time.monotonic()
        os.kill(self.process.pid, signal.SIGTERM)
        killed = False
        while self.process.poll() is None:
            if time.monotonic() - started > STOP_TIMEOUT:
                os.kill(self.process.pid, signal.SIGKILL)
                killed = True
                await asyncio.to_thread(self.process.wait, 10)
                break
            await asyncio.sleep(0.1)
        return {
            "exit_code": self.process.returncode,
            "seconds": round(time.monotonic() - started, 2),
            "killed": killed,
        }


def start_service(env: dict[str, str], port: int, tmp: Path) -> Service:
    log_path = tmp / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "handler", "serve"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Service(process, port, log_path)


# --- PostgreSQL (the tests' throwaway cluster) -----------------------------------------------


@dataclass
class Postgres:
    cluster: Any  # tests.support.postgres.Cluster
    pid: int
    dbname: str
    version: str = ""

    @property
    def url(self) -> str:
        return str(self.cluster.url(self.dbname))


def start_postgres() -> Postgres | str:
    """A cluster on a free loopback port (as the postgres user when we are root), or why not."""
    try:
        from tests.support import postgres as pg
    except ImportError as exc:
        return f"cannot import tests/support/postgres.py: {exc}"
    if pg.find_bin_dir() is None:
        return "no PostgreSQL server binaries (initdb) found (apt-get install postgresql)"
    try:
        cluster = pg.start_cluster()
    except pg.Unavailable as exc:
        return str(exc)
    try:
        pid = int((cluster.data / "postmaster.pid").read_text().splitlines()[0])
        dbname = cluster.create_database()
        import psycopg

        with psycopg.connect(cluster.url(dbname), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        version = str(row[0]) if row else ""
    except Exception:
        stop_postgres_cluster(cluster, None)
        raise
    return Postgres(cluster, pid, dbname, version)


def stop_postgres_cluster(cluster: Any, pid: int | None) -> None:
    """``pg_ctl stop -m fast``; if the postmaster (by PID) is still there, signal it."""
    with contextlib.suppress(Exception):
        cluster.stop()
    if pid is not None:
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if not pid_alive(pid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
    shutil.rmtree(cluster.root, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is gone for our purposes.
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


# --- the simulator, watched from inside ------------------------------------------------------


def kind_of(call: dict[str, Any]) -> str:
    method, path = call["method"], call["path"]
    if _TASK_PATH.match(path):
        return "GET task (poll)" if method == "GET" else f"{method} task"
    if path.endswith("/cancel"):
        return "POST task cancel"
    if path == "/streaming/ai/tasks":
        return "POST task (create)" if method == "POST" else "GET task list (search)"
    if path == "/streaming/ai/info":
        return "GET ai/info"
    match = _VIDEO_PATH.match(path)
    if match and match.group(1):
        return "POST subtitle (attach)" if method == "POST" else "GET subtitles"
    if match:
        return "GET video"
    return f"{method} {path}"


class SimWatch:
    """Reads the simulated account in-process: tasks in flight, calls, webhook outcomes.

    The simulator keeps every call and every delivery in memory; they are counted and dropped
    every second so this process does not grow with the run.
    """

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.queue_refusals = 0
        self.webhooks: Counter[str] = Counter()
        self.delivered = 0
        self.scheduled = 0  # webhooks of the uploaded videos, sent or still to come
        self._due_at: list[float] = []  # heap of the moments the unsent ones are due
        self._due = 0
        self._live: set[str] = set()
        self._seen = 0

    def drain(self) -> None:
        calls = self.state.calls[:]
        self.state.calls.clear()
        for call in calls:
            kind = kind_of(call)
            self.calls[kind] += 1
            self.statuses[str(call["status"])] += 1
            body = call.get("response_body")
            error = str(body.get("error", "")) if isinstance(body, dict) else ""
            if kind == "POST task (create)" and "queue limit" in error.lower():
                self.queue_refusals += 1
        sent = self.state.sender.delivered[:]
        self.state.sender.delivered.clear()
        self.webhooks.update(str(d["outcome"]) for d in sent)
        self.delivered += len(sent)

    def schedule(self, video: Video) -> None:
        """Note when the simulator will POST each lifecycle webhook of a new video."""
        for _, at in video.transitions():
            heapq.heappush(self._due_at, at)
            self.scheduled += 1

    def _sent(self) -> int:
        return self.delivered + len(self.state.sender.delivered)

    def pending_webhooks(self) -> int:
        """Webhooks of the uploaded videos not answered yet (due or still to come)."""
        return self.scheduled - self._sent()

    def webhooks_in_flight(self) -> int:
        """Webhooks due by now and not answered yet: the POSTs in progress."""
        now = self.state.now()
        while self._due_at and self._due_at[0] <= now:
            heapq.heappop(self._due_at)
            self._due += 1
        return self._due - self._sent()

    def in_flight(self) -> int:
        """AI tasks not terminal on the account right now (terminal ones never come back)."""
        tasks = self.state.tasks
        if len(tasks) > self._seen:
            self._live.update(itertools.islice(tasks, self._seen, None))
            self._seen = len(tasks)
        now = self.state.now()
        self._live = {t for t in self._live if not tasks[t].terminal(now)}
        return len(self._live)

    def exact_peak(self) -> dict[str, Any]:
        """The most tasks ever non-terminal at once, from every task's timeline."""
        now = self.state.now()
        events: list[tuple[float, int]] = []
        for task in self.state.tasks.values():
            events.append((task.created_at, 1))
            end = task.ends_at
            if task.revoked_at is not None:
                end = min(end, task.revoked_at)
            if end <= now:
                events.append((end, -1))
        events.sort()  # at equal times an end (-1) sorts before a start (+1)
        running = peak = 0
        peak_at = 0.0
        for at, step in events:
            running += step
            if running > peak:
                peak, peak_at = running, at
        return {"peak": peak, "at_sim_s": round(peak_at, 2), "tasks": len(self.state.tasks)}


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Progress:
    uploaded: int = 0
    upload_done_at: float | None = None


@dataclass
class Sample:
    t: float
    rss_mb: float | None
    service_cpu_s: float | None
    sim_in_flight: int
    ledger_active: int | None
    bench_cpu_s: float | None = None
    tracks: int | None = None
    finished: int | None = None


@dataclass
class RunData:
    backend: str
    label: str
    samples: list[Sample] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seeded_at: float | None = None
    plans: dict[str, str] = field(default_factory=dict)
    plan_checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    claim_timing: dict[str, Any] = field(default_factory=dict)
    autovacuum: dict[str, Any] = field(default_factory=dict)
    hwm_mb: float | None = None
    stop: dict[str, Any] = field(default_factory=dict)
    peak: dict[str, Any] = field(default_factory=dict)
    watch: SimWatch | None = None
    progress: Progress = field(default_factory=Progress)
    elapsed: float = 0.0
    log_events: dict[str, int] = field(default_factory=dict)
    log_bytes: int = 0
    bench_cpu_s: float | None = None
    ledger_bytes: int | None = None
    load_avg: dict[str, list[float]] = field(default_factory=dict)
    webhooks_before_stop: dict[str, int] = field(default_factory=dict)


async def upload_all(
    n: int, state: SimState, watch: SimWatch, progress: Progress, clock: Callable[[], float]
) -> None:
    """Upload ``n`` videos exactly as ``POST /_sim/upload`` does (its own parser and
    ``create_video``), called in-process: an HTTP round trip per upload would only spend the
    CPU this process shares with the simulator. The pace is set by the webhooks: never more
    than MAX_WEBHOOKS_IN_FLIGHT of them due and unanswered."""
    rng = random.Random(SEED)
    for i in range(n):
        while watch.webhooks_in_flight() >= MAX_WEBHOOKS_IN_FLIGHT:
            await asyncio.sleep(0.002)
        body = {
            "name": f"scale bench video {i + 1}",
            "duration_ms": rng.randint(30, 180) * 1000,
            "spoken_language": AUDIO_LANGUAGE,
        }
        spec = upload_spec(body)
        if isinstance(spec, str):
            raise RuntimeError(f"/_sim/upload would refuse {body}: {spec}")
        watch.schedule(state.create_video(spec))
        progress.uploaded += 1
        await asyncio.sleep(0)  # the simulator's webhook task for "empty" starts now
    progress.upload_done_at = clock()


def plan_check(backend: str, plan: str) -> dict[str, Any]:
    """Does the claim walk the tracks_due index, and never scan tracks sequentially?"""
    lines = plan.splitlines()
    if backend == "sqlite":
        on_tracks = [line for line in lines if re.search(r"\b(SCAN|SEARCH) tracks\b", line)]
        scans = [line for line in on_tracks if "USING" not in line]
    else:
        scans = [line.strip() for line in lines if "Seq Scan on tracks" in line]
    uses_due = "tracks_due" in plan
    return {"uses_tracks_due": uses_due, "sequential_scans": scans, "ok": uses_due and not scans}


async def explain(run: RunData, probe: LedgerProtocol, name: str, t: float) -> None:
    plan = await probe.explain_claim()
    run.plans[name] = plan
    run.plan_checks[name] = {"t": round(t, 1), **plan_check(run.backend, plan)}
    verdict = "index only" if run.plan_checks[name]["ok"] else "SEQUENTIAL SCAN / no tracks_due"
    print(f"[{t:5.0f} s] explain_claim() {name} ({verdict}):")
    print("           " + "\n           ".join(plan.splitlines()), flush=True)


async def pg_stats(url: str) -> dict[str, Any]:
    import psycopg
    from psycopg.rows import dict_row

    query = (
        "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze, last_analyze, "
        "last_autoanalyze, last_autovacuum, autoanalyze_count, autovacuum_count "
        "FROM pg_stat_user_tables WHERE relname IN ('tracks', 'videos', 'events') "
        "ORDER BY relname"
    )
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        rows = await (await conn.execute(query)).fetchall()
        setting = await (await conn.execute("SHOW autovacuum")).fetchone()
    out: dict[str, Any] = {"autovacuum": setting["autovacuum"] if setting else None}
    for row in rows:
        out[row["relname"]] = {
            k: (v.isoformat() if isinstance(v, datetime.datetime) else v)
            for k, v in row.items()
            if k != "relname"
        }
    return out


async def pg_analyze(url: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("ANALYZE tracks")
        await conn.execute("ANALYZE videos")


async def time_claim(backend: str, url: str) -> dict[str, Any]:
    """Run the sweeper's track claim once (50 jobs) in a transaction that is rolled back."""
    now = time.time()
    params = {"owner": "bench-probe", "until": now, "now": now, "limit": 50, "budget": 50}
    if backend == "sqlite":
        from handler.ledger import _CLAIM_TRACKS

        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=10.0)
        try:
            db.execute("BEGIN IMMEDIATE")
            started = time.perf_counter()
            rows = db.execute(_CLAIM_TRACKS, params).fetchall()
            seconds = time.perf_counter() - started
            db.execute("ROLLBACK")
        finally:
            db.close()
        return {"rows": len(rows), "ms": round(seconds * 1000, 2)}
    import psycopg

    from handler.ledger_pg import CLAIM_TRACKS

    async with await psycopg.AsyncConnection.connect(url) as conn:
        async with conn.transaction(force_rollback=True):
            cursor = await conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) " + CLAIM_TRACKS, params
            )
            lines = [str(r[0]) for r in await cursor.fetchall()]
        async with conn.transaction(force_rollback=True):
            started = time.perf_counter()
            cursor = await conn.execute(CLAIM_TRACKS, params)
            rows = await cursor.fetchall()
            seconds = time.perf_counter() - started
    execution = next((line for line in lines if line.startswith("Execution Time")), "")
    return {"rows": len(rows), "ms": round(seconds * 1000, 2), "server": execution,
            "analyze": lines}  # fmt: skip


def log_summary(path: Path) -> tuple[dict[str, int], int]:
    """Warning and error events the service logged, counted by level and event."""
    counts: Counter[str] = Counter()
    with path.open("rb") as log:
        for raw in log:
            try:
                line = json.loads(raw)
            except ValueError:
                # Plain-text stderr (uvicorn, the logging module): group by its shape.
                text = raw.decode(errors="replace").strip()
                text = re.sub(r"https?://\S+", "<url>", text)
                if text:
                    counts[f"text: {text[:90]}"] += 1
                continue
            if isinstance(line, dict) and line.get("level") in ("warning", "error", "critical"):
                counts[f"{line['level']}: {line.get('event')}"] += 1
    return dict(counts.most_common()), path.stat().st_size


async def run_backend(
    backend: str, label: str, database_url: str, args: argparse.Namespace, tmp: Path
) -> RunData:
    run = RunData(backend, label)
    loop = asyncio.get_running_loop()
    sim_sock = bound_socket()
    sim_url = f"http://127.0.0.1:{sim_sock.getsockname()[1]}"
    svc_port = free_port()
    secret = secrets.token_urlsafe(24)
    settings = Settings(secret_keys=secret)
    profile = tokens.Profile(languages=list(LANGUAGES), audio_language=AUDIO_LANGUAGE)
    webhook_url = (
        f"http://127.0.0.1:{svc_port}/webhooks/gcore/{tokens.mint(profile, settings.signing_keys)}"
    )
    simulator = create_simulator_app(
        SimulatorConfig(api_key=API_KEY, webhook_url=webhook_url, time_scale=args.time_scale)
    )
    state: SimState = simulator.state.sim
    watch = SimWatch(state)
    run.watch = watch
    server = uvicorn.Server(
        uvicorn.Config(simulator, access_log=False, log_level="warning", lifespan="on")
    )
    sim_task = asyncio.create_task(server.serve(sockets=[sim_sock]))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AUTOSUBS_", "GCORE_"))},
        "HOST": "127.0.0.1",
        "PORT": str(svc_port),
        "GCORE_API_KEY": API_KEY,
        "GCORE_BASE_URL": sim_url,
        "AUTOSUBS_SECRET_KEYS": secret,
        "AUTOSUBS_DATABASE_URL": database_url,
        "AUTOSUBS_ALLOWED_CIDRS": "127.0.0.1/32",
        "AUTOSUBS_LOG_FORMAT": "json",
        "AUTOSUBS_POLL_FLOOR": str(args.poll_floor),
        "AUTOSUBS_GCORE_RPS": str(args.gcore_rps),
    }
    service: Service | None = None
    probe: LedgerProtocol | None = None
    tasks: list[asyncio.Task[None]] = []
    bench_cpu0 = cpu_seconds(os.getpid())
    expected_tracks = args.videos * TRACKS_PER_VIDEO
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if time.monotonic() > deadline or sim_task.done():
                raise RuntimeError("the simulator did not start")
            await asyncio.sleep(0.02)
        service = start_service(env, svc_port, tmp)
        async with httpx.AsyncClient(base_url=sim_url, timeout=30.0) as client:
            await service.wait_ready(client)
            probe = await open_ledger(database_url, migrate=False)
            t0 = loop.time()

            def clock() -> float:
                return loop.time() - t0

            print(f"[{0:5.0f} s] service pid {service.pid} ready on {service.base}; uploading "
                  f"{args.videos} videos", flush=True)  # fmt: skip
            run.load_avg["start"] = load_average()
            uploader = asyncio.create_task(
                upload_all(args.videos, state, watch, run.progress, clock)
            )
            tasks.append(uploader)
            tasks.append(asyncio.create_task(sample(run, service, probe, clock)))
            explained = False
            while True:
                await asyncio.sleep(0.25)
                if window_over(clock(), args.duration, run.seeded_at):
                    break
                if uploader.done() and uploader.exception() is not None:
                    raise RuntimeError(f"upload failed: {uploader.exception()!r}")
                if tasks[1].done() and tasks[1].exception() is not None:
                    raise RuntimeError(f"sampling failed: {tasks[1].exception()!r}")
                tracks = sum(run.counts.get("tracks", {}).values())
                if not explained and tracks >= expected_tracks:
                    run.seeded_at = clock()
                    explained = True
                    print(f"[{clock():5.0f} s] all {tracks} track jobs are in the ledger",
                          flush=True)  # fmt: skip
                    await explain(run, probe, "after seeding", clock())
                    if backend == "postgresql":
                        run.autovacuum["after seeding"] = await pg_stats(database_url)
                finished = sum(
                    n for s, n in run.counts.get("tracks", {}).items()
                    if s in TRACK_TERMINAL_STATES
                )  # fmt: skip
                if tracks >= expected_tracks and finished == tracks:
                    print(f"[{clock():5.0f} s] every track job finished", flush=True)
                    break
            run.elapsed = clock()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Let the webhooks of videos already uploaded arrive before the service stops.
            drain_until = time.monotonic() + 10.0
            while watch.pending_webhooks() > 0:
                if time.monotonic() > drain_until:
                    break
                await asyncio.sleep(0.1)
            watch.drain()
            run.webhooks_before_stop = dict(watch.webhooks)
            run.hwm_mb = _mb(service_status_kb(service.pid, "VmHWM"))
            run.load_avg["end"] = load_average()
            # The tables as the sweeper left them, while it is still working.
            await explain(run, probe, "at the end", run.elapsed)
            if backend == "postgresql":
                run.autovacuum["at the end"] = await pg_stats(database_url)
                await pg_analyze(database_url)
                await explain(run, probe, "after explicit ANALYZE", run.elapsed)
            run.claim_timing = await time_claim(backend, database_url)
            print(f"[{run.elapsed:5.0f} s] stopping the service (SIGTERM)", flush=True)
            run.stop = await service.stop()
            run.counts = await probe.counts()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if service is not None and service.process.poll() is None:
            run.stop = run.stop or await service.stop()
        if probe is not None:
            await probe.aclose()
        run.peak = watch.exact_peak()
        watch.drain()
        server.should_exit = True
        await asyncio.gather(sim_task, return_exceptions=True)
        sim_sock.close()
    if bench_cpu0 is not None:
        now_cpu = cpu_seconds(os.getpid())
        run.bench_cpu_s = round(now_cpu - bench_cpu0, 1) if now_cpu is not None else None
    if service is not None:
        run.log_events, run.log_bytes = log_summary(service.log_path)
    if backend == "sqlite":
        path = Path(database_url.removeprefix("sqlite:///"))
        run.ledger_bytes = sum(
            p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()
        )
    return run


def plan_word(check: dict[str, Any]) -> str:
    if check["ok"]:
        return "index"
    if check["sequential_scans"]:
        return "SEQ SCAN " + " | ".join(check["sequential_scans"])
    return "tracks_due not used"


def window_over(t: float, duration: float, seeded_at: float | None) -> bool:
    """The load runs ``duration`` seconds, longer if need be (by at most EXTRA_TIME) so that
    at least MIN_STEADY seconds follow the moment every track job was in the ledger."""
    if t >= duration + EXTRA_TIME:
        return True
    return t >= duration and seeded_at is not None and t - seeded_at >= MIN_STEADY


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


async def sample(
    run: RunData,
    service: Service,
    probe: LedgerProtocol,
    clock: Callable[[], float],
) -> None:
    """Every second: RSS, CPU, tasks in flight (simulator and ledger); every 2 s: ledger counts."""
    assert run.watch is not None
    watch = run.watch
    next_count = 0.0
    next_print = 0.0
    tick = 0
    while True:
        t = clock()
        row = Sample(
            t=round(t, 2),
            rss_mb=_mb(service_status_kb(service.pid, "VmRSS")),
            service_cpu_s=cpu_seconds(service.pid),
            sim_in_flight=watch.in_flight(),
            ledger_active=await probe.active_task_count(),
            bench_cpu_s=cpu_seconds(os.getpid()),
        )
        watch.drain()
        if t >= next_count:
            run.counts = await probe.counts()
            tracks = run.counts.get("tracks", {})
            row.tracks = sum(tracks.values())
            row.finished = sum(n for s, n in tracks.items() if s in TRACK_TERMINAL_STATES)
            next_count = t + COUNT_EVERY
        run.samples.append(row)
        if t >= next_print:
            tracks = run.counts.get("tracks", {})
            videos = run.counts.get("videos", {})
            states = ", ".join(f"{k} {v}" for k, v in sorted(tracks.items())) or "none yet"
            print(
                f"[{t:5.0f} s] uploaded {run.progress.uploaded}, videos "
                f"{sum(videos.values())} ({videos.get('planned', 0)} planned); tracks: {states}; "
                f"RSS {row.rss_mb} MB; in flight: sim {row.sim_in_flight}, ledger "
                f"{row.ledger_active}",
                flush=True,
            )
            next_print = t + 15.0
        tick += 1
        await asyncio.sleep(max(0.0, tick * SAMPLE_EVERY - clock()))


# --- analysis ------------------------------------------------------------------------------


def summarise(run: RunData, args: argparse.Namespace) -> dict[str, Any]:
    assert run.watch is not None
    watch = run.watch
    samples = run.samples
    rss = [(s.t, s.rss_mb) for s in samples if s.rss_mb is not None]
    end = run.elapsed
    first = [m for t, m in rss if t < 60.0]
    last = [m for t, m in rss if t >= end - 60.0]
    after_seed = [(t, m) for t, m in rss if run.seeded_at is not None and t >= run.seeded_at]
    slope = None
    if len(after_seed) >= 10:
        fit = statistics.linear_regression([t for t, _ in after_seed], [m for _, m in after_seed])
        slope = round(fit.slope * 60.0, 2)
    sampled_max = max((m for _, m in rss), default=None)
    peak_rss = max(x for x in (sampled_max, run.hwm_mb) if x is not None) if rss else None
    cpu = [s.service_cpu_s for s in samples if s.service_cpu_s is not None]
    service_cpu_pct = (
        round(100 * (cpu[-1] - cpu[0]) / (samples[-1].t - samples[0].t), 1)
        if len(cpu) >= 2 and samples[-1].t > samples[0].t
        else None
    )
    tracks = run.counts.get("tracks", {})
    videos = run.counts.get("videos", {})
    total_tracks = sum(tracks.values())
    finished = {s: tracks.get(s, 0) for s in TRACK_TERMINAL_STATES if tracks.get(s)}
    expected_tracks = args.videos * TRACKS_PER_VIDEO
    sim_max = max((s.sim_in_flight for s in samples), default=0)
    ledger_max = max((s.ledger_active or 0 for s in samples), default=0)
    peak = run.peak.get("peak", 0)
    after = [s for s in samples if run.seeded_at is not None and s.t >= run.seeded_at]
    steady = (
        round(100 * statistics.mean(s.ledger_active or 0 for s in after) / MAX_ACTIVE, 1)
        if after
        else None
    )
    finished_series = [(s.t, s.finished) for s in samples if s.finished is not None]
    rate = None
    if run.seeded_at is not None:
        window = [(t, f) for t, f in finished_series if t >= run.seeded_at]
        if len(window) >= 2 and window[-1][0] > window[0][0]:
            rate = round((window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]), 1)
    plans_ok = bool(run.plan_checks) and all(c["ok"] for c in run.plan_checks.values())
    seeded_ok = total_tracks >= expected_tracks
    targets = {
        "seeded": {
            "target": f"{expected_tracks} track jobs in the ledger",
            "measured": f"{total_tracks}"
            + (f" (all in by {run.seeded_at:.0f} s)" if run.seeded_at is not None else ""),
            "pass": seeded_ok,
        },
        "claim_uses_index": {
            "target": "claim plan uses tracks_due, no sequential scan of tracks, "
            "with the ledger full",
            "measured": (
                "; ".join(f"{name}: {plan_word(c)}" for name, c in run.plan_checks.items())
                or "no plan"
            )
            + ("" if seeded_ok else " (the ledger never held them all)"),
            "pass": plans_ok and seeded_ok,
        },
        "service_rss": {
            "target": f"peak < {RSS_TARGET_MB:g} MB",
            "measured": f"{peak_rss} MB",
            "pass": peak_rss is not None and peak_rss < RSS_TARGET_MB,
        },
        "ai_tasks_in_flight": {
            "target": f"<= {MAX_ACTIVE} at once, no queue-limit refusal",
            "measured": f"peak {peak}, {watch.queue_refusals} refusals",
            "pass": peak <= MAX_ACTIVE
            and watch.queue_refusals == 0
            and run.peak.get("tasks", 0) > 0,
        },
    }
    return {
        "backend": run.backend,
        "ledger": run.label,
        "elapsed_s": round(run.elapsed, 1),
        "videos_uploaded": run.progress.uploaded,
        "upload_done_at_s": (
            round(run.progress.upload_done_at, 1) if run.progress.upload_done_at else None
        ),
        "webhooks": {
            "delivered": watch.delivered,
            "outcomes_before_stop": run.webhooks_before_stop,
            "outcomes": dict(watch.webhooks),
        },
        "videos_in_ledger": sum(videos.values()),
        "video_states": videos,
        "tracks_in_ledger": total_tracks,
        "track_states": tracks,
        "seeded_at_s": round(run.seeded_at, 1) if run.seeded_at is not None else None,
        "tracks_finished": sum(finished.values()),
        "tracks_finished_by_state": finished,
        "tracks_finished_per_s_after_seeding": rate,
        "rss_mb": {
            "sampled_max": sampled_max,
            "vm_hwm": run.hwm_mb,
            "peak": peak_rss,
            "first_minute_mean": round(statistics.mean(first), 1) if first else None,
            "first_minute_max": max(first) if first else None,
            "last_minute_mean": round(statistics.mean(last), 1) if last else None,
            "last_minute_max": max(last) if last else None,
            "at_seeding": next(
                (m for t, m in rss if run.seeded_at is not None and t >= run.seeded_at), None
            ),
            "slope_after_seeding_mb_per_min": slope,
        },
        "service_cpu_pct": service_cpu_pct,
        "bench_process_cpu_s": run.bench_cpu_s,
        "ai_tasks_in_flight": {
            "exact_peak_on_account": peak,
            "exact_peak_at_sim_s": run.peak.get("at_sim_s"),
            "sampled_max_on_account": sim_max,
            "ledger_active_max": ledger_max,
            "ledger_active_mean_after_seeding_pct_of_cap": steady,
            "tasks_created": run.peak.get("tasks"),
            "queue_limit_refusals": watch.queue_refusals,
        },
        "gcore_calls": dict(watch.calls.most_common()),
        "gcore_call_statuses": dict(watch.statuses),
        "plans": run.plans,
        "plan_checks": run.plan_checks,
        "claim_timing": run.claim_timing,
        "autovacuum": run.autovacuum,
        "service_stop": run.stop,
        "service_log_bytes": run.log_bytes,
        "service_log_warnings_errors": run.log_events,
        "ledger_file_bytes": run.ledger_bytes,
        "load_average": run.load_avg,
        "targets": targets,
        "samples": [{k: v for k, v in s.__dict__.items() if v is not None} for s in run.samples],
    }


def report(s: dict[str, Any]) -> None:
    rss, fl = s["rss_mb"], s["ai_tasks_in_flight"]
    finished = ", ".join(f"{k} {v}" for k, v in s["tracks_finished_by_state"].items()) or "none"
    rate = s["tracks_finished_per_s_after_seeding"]
    outcomes = ", ".join(f"{k}: {v}" for k, v in s["webhooks"]["outcomes_before_stop"].items())
    rows = [
        ("videos uploaded / in the ledger", f"{s['videos_uploaded']} / {s['videos_in_ledger']}"),
        ("webhooks sent (answers, before the stop)", f"{s['webhooks']['delivered']} ({outcomes})"),
        ("track jobs in the ledger", f"{s['tracks_in_ledger']}"
         + (f" (all in by {s['seeded_at_s']:.0f} s)" if s["seeded_at_s"] is not None else "")),
        ("tracks finished in the run", f"{s['tracks_finished']} ({finished})"
         + (f", {rate}/s after seeding" if rate is not None else "")),
        ("service RSS peak (VmHWM) / sampled max", f"{rss['vm_hwm']} / {rss['sampled_max']} MB"),
        ("RSS first minute mean (max)",
         f"{rss['first_minute_mean']} ({rss['first_minute_max']}) MB"),
        ("RSS last minute mean (max)", f"{rss['last_minute_mean']} ({rss['last_minute_max']}) MB"),
        ("RSS when seeded; slope after", f"{rss['at_seeding']} MB; "
         f"{rss['slope_after_seeding_mb_per_min']} MB/min"),
        ("AI tasks in flight, exact peak", f"{fl['exact_peak_on_account']} "
         f"(of {fl['tasks_created']} tasks created)"),
        ("  sampled max on account / in ledger", f"{fl['sampled_max_on_account']} / "
         f"{fl['ledger_active_max']} (ledger mean after seeding "
         f"{fl['ledger_active_mean_after_seeding_pct_of_cap']} % of the cap)"),
        ("  queue-limit refusals", str(fl["queue_limit_refusals"])),
        ("claim once (50 of the due jobs, rolled back)",
         f"{s['claim_timing'].get('ms')} ms client-side"
         + (f"; {s['claim_timing']['server']}" if s["claim_timing"].get("server") else "")),
        ("service CPU (mean) / bench process CPU", f"{s['service_cpu_pct']} % / "
         f"{s['bench_process_cpu_s']} s"),
        ("service graceful stop", f"{s['service_stop'].get('seconds')} s, exit "
         f"{s['service_stop'].get('exit_code')}"
         + (" (SIGKILLed)" if s["service_stop"].get("killed") else "")),
    ]  # fmt: skip
    print(f"\n{s['backend']} ({s['ledger']}), {s['elapsed_s']:.0f} s")
    for name, value in rows:
        print(f"  {name:<44} {value}")
    calls = ", ".join(f"{k} {v}" for k, v in s["gcore_calls"].items())
    print(f"  {'Gcore calls by the service':<44} {calls}")
    if s["service_log_warnings_errors"]:
        logged = ", ".join(
            f"{k} x{v}" for k, v in list(s["service_log_warnings_errors"].items())[:8]
        )
        print(f"  {'service log: warnings, errors, text lines':<44} {logged}")
    for name, t in s["targets"].items():
        print(f"  {'PASS' if t['pass'] else 'FAIL':<5} {name:<20} {t['measured']}  "
              f"(target {t['target']})")  # fmt: skip


def write_result(result: dict[str, Any], out: Path | None) -> Path:
    if out is None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = ROOT / "bench" / "results" / f"scale-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_async(main: Coroutine[Any, Any, RunData]) -> RunData:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def bench_sqlite(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="autosubs-bench-scale-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        run = run_async(run_backend("sqlite", "SQLite file, WAL", url, args, Path(tmp)))
        return summarise(run, args)


def bench_postgres(args: argparse.Namespace) -> dict[str, Any]:
    started = start_postgres()
    if isinstance(started, str):
        print(f"\nPostgreSQL skipped: {started}")
        return {"backend": "postgresql", "skipped": started}
    pg = started
    print(f"\nPostgreSQL {pg.version}: throwaway cluster, postmaster pid {pg.pid}, "
          f"127.0.0.1:{pg.cluster.port}, data in {pg.cluster.root}", flush=True)  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="autosubs-bench-scale-") as tmp:
            label = f"PostgreSQL {pg.version} (tests' cluster settings: fsync off)"
            run = run_async(run_backend("postgresql", label, pg.url, args, Path(tmp)))
            result = summarise(run, args)
            result["postgres"] = {"version": pg.version, "postmaster_pid": pg.pid}
            return result
    finally:
        stop_postgres_cluster(pg.cluster, pg.pid)
        print(f"PostgreSQL stopped (postmaster {pg.pid} "
              f"{'still running!' if pid_alive(pg.pid) else 'gone'})", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION,
                        help="seconds of load per backend (seeding included)")  # fmt: skip
    parser.add_argument("--videos", type=int, default=VIDEOS)
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")  # fmt: skip
    parser.add_argument("--time-scale", type=float, default=TIME_SCALE)
    parser.add_argument("--poll-floor", type=float, default=POLL_FLOOR)
    parser.add_argument("--gcore-rps", type=float, default=GCORE_RPS)
    parser.add_argument("--out", type=Path, default=None, help="result JSON path")
    parser.add_argument("--no-save", action="store_true", help="do not write a result JSON")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not backends or set(backends) - {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")
    if not 0 < args.time_scale <= 1 or args.videos < 1 or args.duration < 10:
        parser.error("need 0 < --time-scale <= 1, --videos >= 1, --duration >= 10")
    # The simulator logs each undelivered webhook; they are counted instead.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    info = machine_info()
    print(f"machine: {info['host']} | {info['cpu']} | {info['cores']} CPUs | "
          f"{info['ram_gib']} GiB RAM | {info['os']}")  # fmt: skip
    print(f"python:  {info['python']} | sqlite {info['sqlite']} | "
          + " ".join(f"{k} {v}" for k, v in info["packages"].items()))  # fmt: skip
    print(f"date:    {info['date']}")
    print(
        f"{args.videos} videos x {TRACKS_PER_VIDEO} languages (spoken {AUDIO_LANGUAGE} + "
        f"{'+'.join(LANGUAGES)}), time_scale {args.time_scale:g}, {args.duration:g} s per "
        f"backend; service: max_active_tasks {MAX_ACTIVE} (default), poll floor "
        f"{args.poll_floor:g} s, {args.gcore_rps:g} requests/s",
        flush=True,
    )
    results: dict[str, Any] = {}
    for backend in backends:
        print(f"\n=== {backend} ===", flush=True)
        results[backend] = bench_sqlite(args) if backend == "sqlite" else bench_postgres(args)
    print("\n=== results ===")
    for result in results.values():
        if "skipped" in result:
            print(f"\n{result['backend']}: SKIPPED ({result['skipped']})")
        else:
            report(result)
    ran = [r for r in results.values() if "skipped" not in r]
    ok = bool(ran) and all(t["pass"] for r in ran for t in r["targets"].values())
    document = {
        "benchmark": "scale",
        "machine": info,
        "code": code_version(),
        "setup": {
            "videos": args.videos,
            "profile": {"audio_language": AUDIO_LANGUAGE, "languages": list(LANGUAGES)},
            "track_jobs": args.videos * TRACKS_PER_VIDEO,
            "durations_s": "uniform 30-180, seeded",
            "time_scale": args.time_scale,
            "duration_per_backend_s": args.duration,
            "upload": "/_sim/upload's own code in-process, paced so that at most "
            f"{MAX_WEBHOOKS_IN_FLIGHT} webhooks are due and unanswered; the simulator sends "
            "each video's 4 lifecycle webhooks over HTTP",
            "service": "python -m handler serve (sweeper on, JSON logs to a file)",
            "service_settings": {
                "AUTOSUBS_MAX_ACTIVE_TASKS": f"unset (default {MAX_ACTIVE})",
                "AUTOSUBS_POLL_FLOOR": args.poll_floor,
                "AUTOSUBS_GCORE_RPS": args.gcore_rps,
                "AUTOSUBS_SWEEP_INTERVAL": "unset (default 15)",
                "AUTOSUBS_BATCH_SIZE": "unset (default 50)",
            },
            "rss": "VmRSS of the service process and its children (the SQLite writer) every "
            "second; VmHWM (kernel peak, summed over them) at the end",
            "in_flight": "exact: max overlap of every task's [created, terminal) on the "
            "simulator's clock; also sampled every second on the simulator and in the ledger",
        },
        "backends": results,
        "all_targets_met": ok,
    }
    print("\n" + ("all targets met" if ok else "some targets NOT met"))
    if not args.no_save:
        print(f"result written to {shown(write_result(document, args.out))}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
