"""Several real replicas on one PostgreSQL ledger, under faults: still exactly once.

Each test runs two ``python -m handler serve`` processes (webhook server and sweeper in
one process, as deployed) that share one database of a throwaway PostgreSQL cluster, and
one Gcore simulator in this process. Between them, on loopback, two small helpers of this
module:

- ``FanOut`` receives every webhook the simulator sends and forwards it, several times and
  concurrently, to every replica: a storm of duplicates spread over both;
- ``GcoreProxy`` sits between the replicas and the simulator and, by rule, answers a request
  itself (429, 500), holds it before forwarding it (the request reaches Gcore late) or holds
  the answer after Gcore acted on it (the answer comes late, or never, or after a timeout).

Whatever happens, every test ends with the same check (``assert_exactly_once``): for every
(video, language) exactly one AI task and exactly one attached track, none missing, and the
ledger naming that task and that track. Extra tasks are allowed only for attempts whose task
legitimately FAILED on Gcore.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handler import tokens
from handler.languages import track_name
from handler.simulator import SimulatorConfig, create_simulator_app
from tests.support import postgres
from tests.support.postgres import Cluster, Unavailable, start_bouncer, start_cluster
from tests.support.servers import free_port, serve_in_thread

pytestmark = pytest.mark.slow

API_KEY = "replicas-test-key"
SECRET = "replicas-test-secret"
ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("fre", "ger")
SPOKEN = "eng"
# client_user_id keys of the three tasks per video: the transcription, then one per language.
TASK_KEYS = ("src", *LANGUAGES)
TRACK_LANGUAGES = sorted((SPOKEN, *LANGUAGES))
TIME_SCALE = 0.03  # transcoding ~0.2 s, an AI task ~0.3 s
VIDEO_MS = 20_000
TERMINAL = ("attached", "skipped", "failed", "cancelled")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
TEST_BUDGET = 60.0  # seconds for one test's body, whatever hangs
# The simulator, like Gcore, waits 5 s for a webhook's answer and never sends it again.
GCORE_PATIENCE = 5.0


async def wait_for(
    predicate: Callable[[], Awaitable[bool] | bool],
    *,
    timeout: float,
    what: str | Callable[[], str],
    pause: float = 0.05,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            # Not an AssertionError: a test expected to fail its check must not pass by hanging.
            raise TimeoutError(f"timed out after {timeout} s waiting for {detail}")
        await asyncio.sleep(pause)


# --- the replicas --------------------------------------------------------------------------


class Replica:
    """``python -m handler serve`` as a child process we own and stop by its PID."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.env = env
        self.log = log
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "handler", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, timeout: float = 20.0) -> None:
        """Until /readyz answers 200 (the ledger is open and migrated)."""
        async with httpx.AsyncClient(timeout=1.0) as client:

            async def up() -> bool:
                assert self.proc is not None and self.proc.poll() is None, self.tail()
                with contextlib.suppress(httpx.HTTPError):
                    return (await client.get(f"{self.url}/readyz")).status_code == 200
                return False

            await wait_for(up, timeout=timeout, what=lambda: f"{self.name} ready: {self.tail()}")

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (graceful: leases handed back), SIGKILL if it lingers. Never raises."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The replica's structured log lines (JSON on stdout), optionally one event only."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if name is None or event.get("event") == name:
                    out.append(event)
        return out

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


# --- the webhook fan-out -------------------------------------------------------------------


async def deliver(
    client: httpx.AsyncClient, targets: list[str], path: str, body: bytes, copies: int
) -> list[str]:
    """POST ``body`` ``copies`` times to every target at once; the outcome of each POST."""

    async def one(target: str) -> str:
        started = time.monotonic()
        try:
            response = await client.post(
                target + path, content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        else:
            outcome = str(response.status_code)
        if time.monotonic() - started > GCORE_PATIENCE:
            outcome += " (too late)"
        return outcome

    return list(await asyncio.gather(*(one(t) for t in targets for _ in range(copies))))


class FanOut:
    """The simulator's webhook receiver: every webhook goes ``copies`` times to each replica,
    all at once. ``targets`` may change while the test runs (a replica joins). While
    ``paused``, webhooks are queued (and answered 202) until ``release``."""

    def __init__(self, copies: int) -> None:
        self.copies = copies
        self.targets: list[str] = []
        self.received: list[tuple[str, bytes]] = []
        self.outcomes: Counter[str] = Counter()
        self.paused = False
        self.queued: list[tuple[str, bytes]] = []
        self.url = ""

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            self.received.append((request.url.path, body))
            if self.paused:
                self.queued.append((request.url.path, body))
                return JSONResponse({"queued": True}, status_code=202)
            async with httpx.AsyncClient(timeout=10) as client:
                outcomes = await deliver(
                    client, list(self.targets), request.url.path, body, self.copies
                )
            self.outcomes.update(outcomes)
            return JSONResponse({"forwarded": len(outcomes)}, status_code=202)

        return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])

    async def release(self, rounds: int = 3) -> None:
        """Deliver the queued webhooks all at once, ``copies`` each: to the first replica in
        the order they came, to the second in reverse, so that both record the same videos
        at the same moment in opposite orders; ``rounds`` times. Then forward as usual."""
        queued, self.queued, self.paused = self.queued, [], False
        async with httpx.AsyncClient(timeout=10) as client:
            for _ in range(rounds):
                sends = [
                    deliver(client, [target], path, body, self.copies)
                    for n, target in enumerate(self.targets)
                    for path, body in (queued if n % 2 == 0 else queued[::-1])
                ]
                for outcomes in await asyncio.gather(*sends):
                    self.outcomes.update(outcomes)

    async def replay(self, copies: int) -> Counter[str]:
        """Send every webhook received so far again (late duplicates), from the test's loop."""
        outcomes: Counter[str] = Counter()
        async with httpx.AsyncClient(timeout=10) as client:
            for path, body in list(self.received):
                outcomes.update(await deliver(client, list(self.targets), path, body, copies))
        return outcomes


# --- the Gcore proxy -----------------------------------------------------------------------


@dataclass
class Rule:
    """What the proxy does to the next ``times`` requests matching ``method`` and ``path``
    (a regular expression, whole path):

    - ``respond``: answer ``status`` (with ``headers``) itself; Gcore never sees it;
    - ``hold_request``: wait ``seconds``, then forward (the request reaches Gcore late);
    - ``hold_response``: forward at once, then hold Gcore's answer ``seconds`` (Gcore acted,
      the caller learns it late, or gives up first).
    """

    method: str
    path: str
    action: str
    seconds: float = 0.0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    taken: int = 0


class GcoreProxy:
    """A loopback proxy in front of the simulator that applies ``Rule``s to requests."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.log: list[dict[str, Any]] = []
        self.holding = 0
        self.held: list[str] = []
        self.released = threading.Event()  # ends every hold at once (teardown, or the test)
        self._lock = threading.Lock()
        self.url = ""

    def add(self, *rules: Rule) -> None:
        with self._lock:
            self.rules.extend(rules)

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if (
                    rule.taken < rule.times
                    and rule.method == method
                    and re.fullmatch(rule.path, path)
                ):
                    rule.taken += 1
                    return rule
        return None

    async def _hold(self, rule: Rule, what: str) -> None:
        self.holding += 1
        self.held.append(what)
        try:
            deadline = time.monotonic() + rule.seconds
            while time.monotonic() < deadline and not self.released.is_set():
                await asyncio.sleep(0.01)
        finally:
            self.holding -= 1

    def app(self) -> Starlette:
        async def forward(request: Request) -> Response:
            method, path = request.method, request.url.path
            what = f"{method} {path}"
            body = await request.body()
            rule = self._take(method, path)
            entry: dict[str, Any] = {
                "call": what,
                "rule": rule.action if rule else None,
                "t": time.time(),
                "video_id": _video_of(path, body),
            }
            self.log.append(entry)
            if rule is not None and rule.action == "respond":
                entry["status"] = rule.status
                return JSONResponse(
                    {"error": f"injected by the test proxy ({rule.status})"},
                    status_code=rule.status,
                    headers=rule.headers,
                )
            if rule is not None and rule.action == "hold_request":
                await self._hold(rule, what)
            headers = {
                k: v
                for k, v in request.headers.items()
                if k in ("authorization", "content-type", "user-agent")
            }
            async with httpx.AsyncClient(timeout=30) as client:
                upstream = await client.request(
                    method,
                    self.upstream + path,
                    params=request.query_params,
                    content=body,
                    headers=headers,
                )
            entry["status"] = upstream.status_code
            if rule is not None and rule.action == "hold_response":
                await self._hold(rule, what)
            passed = {
                k: v
                for k, v in upstream.headers.items()
                if k in ("content-type", "retry-after", "retry-after-ms")
            }
            return Response(upstream.content, status_code=upstream.status_code, headers=passed)

        return Starlette(routes=[Route("/{path:path}", forward, methods=ALL_METHODS)])

    def calls(self, pattern: str, rule: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.log
            if re.fullmatch(pattern, e["call"]) and (rule is None or e["rule"] == rule)
        ]


def _video_of(path: str, body: bytes) -> int | None:
    """The video a request is about: in its path, or in a create's client_user_id."""
    if match := re.match(r"/streaming/videos/(\d+)", path):
        return int(match.group(1))
    with contextlib.suppress(ValueError, TypeError, AttributeError, IndexError):
        return int(json.loads(body)["client_user_id"].split(":")[1])
    return None


CREATE_TASK = ("POST", "/streaming/ai/tasks")
ATTACH = ("POST", r"/streaming/videos/\d+/subtitles")
POLL = ("GET", r"/streaming/ai/tasks/[0-9a-f-]+")


# --- a world of two replicas -----------------------------------------------------------------


@dataclass
class Replicas:
    """Simulator, fan-out, proxy, the ledger URL and the replicas of one test."""

    tmp: Path
    database_url: str
    sim_url: str
    sim: httpx.AsyncClient
    fanout: FanOut
    proxy: GcoreProxy
    token: str
    replicas: list[Replica] = field(default_factory=list)

    def replica(
        self,
        name: str,
        *,
        via_proxy: bool = True,
        database_url: str | None = None,
        **env: str | float,
    ) -> Replica:
        """A replica (not started yet); ``env`` overrides AUTOSUBS_* settings by short name,
        e.g. ``lease_seconds=2``."""
        values = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.tmp),
            "GCORE_API_KEY": API_KEY,
            "GCORE_BASE_URL": self.proxy.url if via_proxy else self.sim_url,
            "AUTOSUBS_SECRET_KEYS": SECRET,
            "AUTOSUBS_DATABASE_URL": database_url or self.database_url,
            "AUTOSUBS_ALLOWED_CIDRS": "127.0.0.1/32",
            "AUTOSUBS_POLL_FLOOR": "0.1",
            "AUTOSUBS_POLL_CEILING": "1",
            "AUTOSUBS_SWEEP_INTERVAL": "0.5",
            "AUTOSUBS_RETRY_BASE": "0.2",
            "AUTOSUBS_GCORE_RPS": "500",
            "AUTOSUBS_GCORE_TIMEOUT": "10",
            "AUTOSUBS_LEASE_SECONDS": "10",
            "HOST": "127.0.0.1",
            "PORT": str(free_port()),
        }
        values.update({f"AUTOSUBS_{k.upper()}": str(v) for k, v in env.items()})
        replica = Replica(name, values, self.tmp / f"{name}.log")
        self.replicas.append(replica)
        return replica

    async def start(self, *replicas: Replica) -> None:
        """Start the replicas together (they migrate the empty database concurrently) and
        make them webhook targets once they answer."""
        for replica in replicas:
            replica.spawn()
        for replica in replicas:
            await replica.ready()
            self.fanout.targets.append(replica.url)

    async def upload(self, n: int, *, prefix: str = "v") -> list[int]:
        ids = []
        for i in range(n):
            body = {"name": f"{prefix}{i}", "duration_ms": VIDEO_MS, "spoken_language": SPOKEN}
            response = await self.sim.post("/_sim/upload", json=body)
            response.raise_for_status()
            ids.append(int(response.json()["id"]))
        return ids

    async def faults(self, **faults: Any) -> None:
        (await self.sim.post("/_sim/faults", json=faults)).raise_for_status()

    async def state(self) -> dict[str, Any]:
        response = await self.sim.get("/_sim/state")
        response.raise_for_status()
        return dict(response.json())

    async def subtitles(self, video_id: int) -> list[dict[str, Any]]:
        response = await self.sim.get(
            f"/streaming/videos/{video_id}/subtitles",
            headers={"Authorization": f"APIKey {API_KEY}"},
        )
        response.raise_for_status()
        return list(response.json())

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, connect_timeout=5) as conn:
            return list(conn.execute(query, params).fetchall())

    def ledger_summary(self) -> str:
        try:
            rows = self.rows(
                "SELECT video_id, target, state, reason, lease_owner FROM tracks "
                "ORDER BY video_id, target"
            )
            videos = self.rows("SELECT video_id, state, reason FROM videos ORDER BY video_id")
        except psycopg.Error as exc:
            return f"(ledger unreadable: {exc})"
        return f"videos {videos}; tracks {rows}"

    async def settled(self, video_ids: list[int]) -> bool:
        """Every video planned and its three track jobs in a terminal state (ledger view)."""
        try:
            [[done]] = await asyncio.to_thread(
                self.rows,
                "SELECT count(*) FROM tracks WHERE video_id = ANY(%s) AND state = ANY(%s)",
                video_ids,
                list(TERMINAL),
            )
        except psycopg.Error:
            return False  # the server may be restarting
        return int(done) == len(video_ids) * len(TASK_KEYS)

    async def wait_settled(self, video_ids: list[int], timeout: float = 30.0) -> None:
        await wait_for(
            lambda: self.settled(video_ids),
            timeout=timeout,
            what=lambda: f"every track to settle: {self.ledger_summary()}",
            pause=0.1,
        )


@contextlib.asynccontextmanager
async def replica_world(
    tmp_path: Path, database_url: str, *, copies: int = 1, budget: float = TEST_BUDGET
) -> AsyncIterator[Replicas]:
    """Simulator + fan-out + proxy on loopback; every replica started is stopped by PID; the
    test's body gets ``budget`` seconds in all (TimeoutError after that)."""
    fanout = FanOut(copies)
    token = tokens.mint(tokens.Profile(languages=LANGUAGES), [SECRET])
    with serve_in_thread(fanout.app()) as fanout_url:
        fanout.url = fanout_url
        simulator = create_simulator_app(
            SimulatorConfig(
                api_key=API_KEY,
                webhook_url=f"{fanout_url}/webhooks/gcore/{token}",
                time_scale=TIME_SCALE,
            )
        )
        with serve_in_thread(simulator) as sim_url:
            proxy = GcoreProxy(sim_url)
            with serve_in_thread(proxy.app()) as proxy_url:
                proxy.url = proxy_url
                world = None
                try:
                    async with (
                        asyncio.timeout(budget),
                        httpx.AsyncClient(base_url=sim_url, timeout=10) as sim,
                    ):
                        world = Replicas(tmp_path, database_url, sim_url, sim, fanout, proxy, token)
                        yield world
                finally:
                    proxy.released.set()  # no hold outlives the test
                    for replica in world.replicas if world else []:
                        replica.stop()


# --- the check every test ends with -------------------------------------------------------


def _task_key(task: dict[str, Any]) -> tuple[int, str, int]:
    marker = str((task.get("task_data") or {}).get("client_user_id") or "")
    prefix, video, key, attempt = marker.split(":")
    assert prefix == "autosubs", marker
    return int(video), key, int(attempt)


async def assert_exactly_once(w: Replicas, video_ids: list[int]) -> dict[str, Any]:
    """Exactly one AI task and one attached track per (video, language), none missing; more
    attempts only where an earlier task FAILED on Gcore; the ledger names those very ones.

    Returns a few numbers for the report (tasks, failed attempts)."""
    state = await w.state()
    by_job: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for task in state["tasks"]:
        video, key, attempt = _task_key(task)
        by_job[(video, key)].append({**task, "attempt": attempt})
    problems: list[str] = []
    strays = sorted(set(by_job) - {(v, k) for v in video_ids for k in TASK_KEYS})
    if strays:
        problems.append(f"tasks for jobs nobody asked for: {strays}")
    final: dict[tuple[int, str], str] = {}
    failed_attempts = 0
    for video in video_ids:
        for key in TASK_KEYS:
            tasks = sorted(by_job.get((video, key), []), key=lambda t: t["attempt"])
            if not tasks:
                problems.append(f"{video}:{key}: no AI task")
                continue
            attempts = Counter(t["attempt"] for t in tasks)
            doubled = {a: n for a, n in attempts.items() if n > 1}
            if doubled:
                detail = [(t["attempt"], t["task_id"], t["status"]) for t in tasks]
                problems.append(
                    f"{video}:{key}: {sum(doubled.values())} tasks for attempt(s) "
                    f"{sorted(doubled)}: {detail}"
                )
            *earlier, last = tasks
            for task in earlier:
                if task["status"] != "FAILURE":
                    problems.append(
                        f"{video}:{key}: extra task {task['task_id']} attempt "
                        f"{task['attempt']} is {task['status']}, not FAILURE"
                    )
            failed_attempts += len(earlier)
            if last["status"] != "SUCCESS":
                problems.append(f"{video}:{key}: last task is {last['status']}")
            final[(video, key)] = last["task_id"]

        subtitles = await w.subtitles(video)
        languages = sorted(s["language"] for s in subtitles)
        if languages != TRACK_LANGUAGES:
            problems.append(f"{video}: tracks {languages}, expected {TRACK_LANGUAGES}")
        for sub in subtitles:
            if sub["name"] != track_name(sub["language"]) or not sub["vtt"].startswith("WEBVTT"):
                problems.append(f"{video}: foreign or empty track {sub['id']} {sub['name']!r}")
        sub_ids = {s["language"]: s["id"] for s in subtitles}

        rows = await asyncio.to_thread(
            w.rows,
            "SELECT target, state, reason, task_id, subtitle_id, language FROM tracks "
            "WHERE video_id = %s ORDER BY target",
            video,
        )
        for target, track_state, reason, task_id, subtitle_id, language in rows:
            key = "src" if target == "*" else target
            if track_state != "attached":
                problems.append(f"{video}:{target}: ledger says {track_state} ({reason})")
                continue
            if task_id != final.get((video, key)):
                problems.append(
                    f"{video}:{target}: ledger task {task_id}, "
                    f"Gcore's last task {final.get((video, key))}"
                )
            if subtitle_id != sub_ids.get(language):
                problems.append(
                    f"{video}:{target}: ledger track {subtitle_id}, "
                    f"Gcore's {language} track {sub_ids.get(language)}"
                )
        if len(rows) != len(TASK_KEYS):
            problems.append(f"{video}: {len(rows)} track jobs in the ledger")
    assert not problems, "not exactly once:\n" + "\n".join(problems)
    return {"tasks": len(state["tasks"]), "failed_attempts": failed_attempts}


def _leases_of(w: Replicas, replica: Replica) -> list[tuple[Any, ...]]:
    """Unexpired leases ``replica`` holds, read straight from the ledger."""
    return w.rows(
        "SELECT video_id, target, state, lease_until FROM tracks "
        "WHERE lease_owner LIKE %s AND lease_until > %s",
        f"%:{replica.pid}:%",
        time.time(),
    )


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def database_url(pg_cluster: Cluster, pg_database: str) -> str:
    return pg_cluster.url(pg_database)


@pytest.fixture
def private_cluster(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A cluster of this test's own, to restart without disturbing the session's (asking for
    ``pg_cluster`` first makes the test skip, or fail, exactly like the other PG tests)."""
    try:
        cluster = start_cluster()
    except Unavailable as exc:
        pytest.fail(str(exc))
    try:
        yield cluster
    finally:
        with contextlib.suppress(Unavailable):
            cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


# --- 1. two replicas and a storm of duplicate webhooks ---------------------------------------


async def test_two_replicas_and_a_webhook_storm(tmp_path: Path, database_url: str) -> None:
    """Every webhook reaches both replicas four times at once; their two sweepers compete for
    the work. The first webhooks of six new videos reach the two replicas in one burst, in opposite
    orders. Late replays of every webhook after the end start nothing either."""
    async with replica_world(tmp_path, database_url, copies=4) as w:
        a, b = w.replica("a"), w.replica("b")
        await w.start(a, b)
        w.fanout.paused = True
        video_ids = await w.upload(6)
        await wait_for(
            lambda: len(w.fanout.queued) >= len(video_ids), timeout=5, what="the first webhooks"
        )
        await w.fanout.release()
        await w.wait_settled(video_ids)
        await wait_for(
            lambda: len(w.fanout.received) >= 4 * len(video_ids),
            timeout=10,
            what="every lifecycle webhook",
        )
        report = await assert_exactly_once(w, video_ids)

        # The storm really happened, on both replicas: 4 copies x 2 replicas per webhook.
        assert set(w.fanout.outcomes) == {"202"}, w.fanout.outcomes
        # (the queued ones three times over)
        assert w.fanout.outcomes["202"] >= 8 * len(w.fanout.received)
        [[events]] = w.rows("SELECT count(*) FROM events")
        assert events == w.fanout.outcomes["202"]  # each 202 is one recorded event
        assert report["tasks"] == len(video_ids) * len(TASK_KEYS)

        # Late duplicates of every webhook, after everything was attached.
        tasks_before = len((await w.state())["tasks"])
        replayed = await w.fanout.replay(copies=3)
        assert set(replayed) == {"202"}, replayed
        await asyncio.sleep(1.0)  # two sweep intervals
        assert len((await w.state())["tasks"]) == tasks_before
        await assert_exactly_once(w, video_ids)


# --- 2. kill -9 of a replica that holds leases ---------------------------------------------


async def test_kill_9_of_a_replica_holding_leases(tmp_path: Path, database_url: str) -> None:
    """Replica A has created AI tasks but not heard back (its answers are held) when it is
    killed with SIGKILL mid-pass, holding leases. B takes the jobs over once the leases run
    out, finds A's tasks on Gcore and adopts them: no task twice, nothing missing."""
    lease = 3.0
    async with replica_world(tmp_path, database_url, copies=2) as w:
        a = w.replica("a", lease_seconds=lease)  # via the proxy, which holds its answers
        b = w.replica("b", via_proxy=False, lease_seconds=lease)
        w.proxy.add(Rule(*CREATE_TASK, "hold_response", seconds=60, times=1000))
        await w.start(a)
        video_ids = await w.upload(3)
        await wait_for(
            lambda: w.proxy.holding >= 1, timeout=15, what="A to create a task (answer held)"
        )
        await w.start(b)  # B is up while A still holds its leases (B starts in ~1 s)
        held = _leases_of(w, a)
        assert held, f"A holds no lease mid-pass: {w.ledger_summary()}"
        a.kill9()
        killed_at = time.time()
        created_by_a = len(w.proxy.calls("POST /streaming/ai/tasks"))
        assert created_by_a >= 1

        await w.wait_settled(video_ids, timeout=30)
        await assert_exactly_once(w, video_ids)

        # B adopted every task A had made, each only after A's lease on that job ran out.
        adopted = {(e["video_id"], e["target"]): _ts(e) for e in b.events("task_adopted")}
        assert len(adopted) == created_by_a, (created_by_a, adopted)
        for video_id, target, state, lease_until in held:
            if state != "creating":
                continue  # claimed, but A had not sent its create yet: B makes a fresh one
            when = adopted[(video_id, target)]
            assert when >= lease_until, (video_id, target, when, lease_until, killed_at)


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")).timestamp()


# --- 3. PostgreSQL restarted during a pass ---------------------------------------------------


async def test_postgres_restart_during_a_pass(tmp_path: Path, private_cluster: Cluster) -> None:
    """pg_ctl restart -m fast while a replica is mid-step (an AI task created, its answer
    held), with webhooks arriving: A talks to PostgreSQL directly, B through PgBouncer in
    transaction mode. Both reconnect; every webhook is recorded; nothing is lost or doubled."""
    name = private_cluster.create_database()
    # PgBouncer's default server_login_retry (15 s) would keep B away from the ledger for 15 s
    # after the restart (every webhook answered 503 meanwhile): deployments set it low.
    try:
        bouncer = start_bouncer(private_cluster, server_login_retry=1)
    except Unavailable as exc:
        postgres.unavailable(str(exc))  # a skip, or a failure under AUTOSUBS_REQUIRE_POSTGRES
    try:
        direct = private_cluster.url(name)
        async with replica_world(tmp_path, direct, copies=1) as w:
            a = w.replica("a", lease_seconds=2)
            b = w.replica("b", lease_seconds=2, database_url=bouncer.url(name))
            w.proxy.add(Rule(*CREATE_TASK, "hold_response", seconds=60, times=1))
            await w.start(a, b)
            video_ids = await w.upload(2)
            await wait_for(lambda: w.proxy.holding >= 1, timeout=15, what="a held create")

            def down() -> bool:
                try:
                    psycopg.connect(direct, connect_timeout=1).close()
                except psycopg.OperationalError:
                    return True
                return False

            restart = asyncio.create_task(asyncio.to_thread(private_cluster.restart))
            more = await w.upload(2, prefix="during")  # their webhooks land mid-restart
            await wait_for(lambda: down() or restart.done(), timeout=10, what="server down")
            w.proxy.released.set()  # the held step now records while the server is away
            await asyncio.wait_for(restart, timeout=40)
            video_ids += more

            await w.wait_settled(video_ids, timeout=40)
            await wait_for(
                lambda: len(w.fanout.received) >= 4 * len(video_ids),
                timeout=10,
                what="every lifecycle webhook",
            )
            await assert_exactly_once(w, video_ids)
            # Every webhook, including those sent during the restart, was recorded (Gcore
            # never re-sends one): both replicas answered 202 to each.
            assert set(w.fanout.outcomes) == {"202"}, w.fanout.outcomes
            [[events]] = w.rows("SELECT count(*) FROM events")
            assert events == 2 * len(w.fanout.received)
            for replica in (a, b):
                async with httpx.AsyncClient() as client:
                    ready = await client.get(f"{replica.url}/readyz")
                assert ready.status_code == 200, (replica.name, ready.text)
    finally:
        bouncer.stop()


# --- 4. Gcore answering 429, 500 and timeouts for a while ------------------------------------


async def test_gcore_429_500_and_timeouts(tmp_path: Path, database_url: str) -> None:
    """The simulator refuses the first requests with 429 (Retry-After) and 500; the proxy
    refuses creates with 500 and 429, and holds answers past AUTOSUBS_GCORE_TIMEOUT (the
    simulator has no delay of its own) on creates, attaches and polls, after Gcore acted.
    Timed-out creates and attaches are ambiguous: the replicas look on Gcore first and adopt
    what the lost answer had created."""
    async with replica_world(tmp_path, database_url, copies=2) as w:
        a = w.replica("a", gcore_timeout=0.5, lease_seconds=10)
        b = w.replica("b", gcore_timeout=0.5, lease_seconds=10)
        w.proxy.add(
            Rule(*CREATE_TASK, "respond", status=500, times=1),
            Rule(*CREATE_TASK, "respond", status=429, headers={"Retry-After": "0.3"}, times=1),
            Rule(*CREATE_TASK, "hold_response", seconds=1.0, times=2),
            Rule(*ATTACH, "hold_response", seconds=1.0, times=2),
            Rule(*POLL, "hold_response", seconds=1.0, times=3),
        )
        await w.start(a, b)
        await w.faults(http_429=2, retry_after=0.2, http_500=2)
        video_ids = await w.upload(3)
        await w.wait_settled(video_ids, timeout=40)
        await assert_exactly_once(w, video_ids)

        faults = (await w.state())["faults"]
        assert faults["http_429"] == faults["http_500"] == 0, faults  # all were served
        for rule in w.proxy.rules:
            assert rule.taken == rule.times, rule
        timeouts = [e for r in (a, b) for e in r.events() if "ReadTimeout" in json.dumps(e)]
        assert timeouts, "no call timed out"
        adopted = [e for r in (a, b) for e in r.events("task_adopted")]
        assert len(adopted) >= 1  # a timed-out create was found on Gcore, not made again
        [[adopted_tracks]] = w.rows(
            "SELECT count(*) FROM tracks WHERE reason = 'adopted an existing autosubs track'"
        )
        assert adopted_tracks >= 1  # so was a timed-out attach


# --- 5. a lease that runs out while a slow call is in flight --------------------------------


@pytest.mark.parametrize("slow", ["create", "attach"])
async def test_lease_runs_out_during_a_slow_call(
    tmp_path: Path, database_url: str, slow: str
) -> None:
    """Both replicas lease for 1 s. Whoever makes the first create (or attach) waits 3 s for
    Gcore's answer, which Gcore has already acted on. The other replica takes the job over
    when the lease runs out and adopts the task (or track) it finds on Gcore; the slow one
    then records nothing (LeaseLost). Still exactly one task and one track."""
    async with replica_world(tmp_path, database_url, copies=2) as w:
        a = w.replica("a", lease_seconds=1)
        b = w.replica("b", lease_seconds=1)
        method, path = CREATE_TASK if slow == "create" else ATTACH
        w.proxy.add(Rule(method, path, "hold_response", seconds=3.0, times=1))
        await w.start(a, b)
        video_ids = await w.upload(2)
        await w.wait_settled(video_ids, timeout=30)
        await wait_for(
            lambda: w.proxy.holding == 0 and w.proxy.rules[0].taken == 1,
            timeout=10,
            what="the slow call to end",
        )
        [slow_call] = [e for e in w.proxy.log if e["rule"] == "hold_response"]
        video = slow_call["video_id"]

        def lost(r: Replica) -> list[dict[str, Any]]:
            return [e for e in r.events("lease_lost") if e.get("video_id") == video]

        await wait_for(
            lambda: bool(lost(a) or lost(b)),
            timeout=5,
            what="the slow replica to find its lease lost",
        )
        await assert_exactly_once(w, video_ids)
        other = b if lost(a) else a
        assert not lost(other), other.events("lease_lost")
        if slow == "create":  # the other one found the slow one's task and took it
            assert [e for e in other.events("task_adopted") if e.get("video_id") == video]
        else:  # the other one found the slow one's track on the video and recorded it
            [[adopted]] = w.rows(
                "SELECT count(*) FROM tracks WHERE video_id = %s "
                "AND reason = 'adopted an existing autosubs track'",
                video,
            )
            assert adopted == 1


# --- 6. a create or attach that reaches Gcore after we stopped waiting for it ----------------


def _late(case: str) -> tuple[Rule, dict[str, float]]:
    if case == "create-after-lease":
        # The first create is refused with 429 and Retry-After 2.5 s, longer than the 1 s
        # lease: the other replica takes the job over (``creating``: it looks on Gcore, finds
        # nothing, creates the task); then the first one's client sends its create again.
        refuse = Rule(*CREATE_TASK, "respond", status=429, headers={"Retry-After": "2.5"})
        return refuse, {"lease_seconds": 1}
    # The first attach reaches Gcore 2 s late; its caller gave up after 0.5 s (timeout),
    # listed the video's tracks a moment later, found none of ours, and attached again.
    return Rule(*ATTACH, "hold_request", seconds=2.0), {"gcore_timeout": 0.5}


@pytest.mark.parametrize("case", ["create-after-lease", "attach-after-timeout"])
async def test_a_request_that_lands_late_is_not_doubled(
    tmp_path: Path, database_url: str, case: str
) -> None:
    """A create (or attach) that Gcore receives only after another attempt already made the
    task (or track) must not leave a second one behind."""
    rule, env = _late(case)
    async with replica_world(tmp_path, database_url, copies=2) as w:
        a, b = w.replica("a", **env), w.replica("b", **env)
        w.proxy.add(rule)
        await w.start(a, b)
        video_ids = await w.upload(1)
        await w.wait_settled(video_ids, timeout=30)
        await wait_for(
            lambda: rule.taken == 1 and w.proxy.holding == 0,
            timeout=10,
            what="the late request to reach Gcore",
        )
        [late] = [e for e in w.proxy.log if e["rule"] is not None]
        await asyncio.sleep(max(0.0, late["t"] + 3.0 - time.time()))  # it has landed by now
        await assert_exactly_once(w, video_ids)
