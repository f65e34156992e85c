"""Group commit: concurrent webhooks share ledger transactions, and each 202 still means
"recorded". On a real SQLite ledger, directly and through the service under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from handler import tokens
from handler.app import create_app
from handler.config import Settings
from handler.errors import LedgerError
from handler.group_commit import GroupCommit
from handler.ledger import Ledger, VideoEvent
from tests.support.servers import free_port, serve_in_thread

PROFILE = tokens.Profile(languages=("fre",))
ROOT = Path(__file__).resolve().parents[1]


def _event(video_id: int) -> VideoEvent:
    return VideoEvent(video_id, PROFILE, "ready", 0.0, "fp")


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    db = Ledger(str(tmp_path / "ledger.db"))
    yield db
    with contextlib.suppress(LedgerError):
        await db.aclose()


async def test_events_queued_together_share_one_transaction(ledger: Ledger) -> None:
    """200 events recorded at once: every one answered, recorded, in one commit."""
    commit = GroupCommit(ledger, max_batch=256)
    new = await asyncio.gather(*(commit.record(_event(i)) for i in range(1, 201)))
    assert new == [True] * 200
    assert (commit.events, commit.transactions) == (200, 1)
    assert await ledger.event_count() == 200
    assert len(await ledger.videos()) == 200


async def test_batches_are_bounded(ledger: Ledger) -> None:
    """At most ``max_batch`` events per transaction; the rest follow in the next ones."""
    commit = GroupCommit(ledger, max_batch=64)
    await asyncio.gather(*(commit.record(_event(i)) for i in range(1, 201)))
    assert (commit.events, commit.transactions) == (200, 4)
    assert await ledger.event_count() == 200


async def test_batches_in_the_writer_process_overlap_two_at_a_time(ledger: Ledger) -> None:
    """With the writer process, a second batch is sent while the first commits, never a
    third; answers and rows are the same as one batch at a time."""
    await ledger.start_writer()
    writer = ledger._writer
    assert writer is not None
    commit = GroupCommit(ledger)  # the service's defaults: 16 events, 2 batches in flight
    peak = 0
    recording = asyncio.ensure_future(
        asyncio.gather(*(commit.record(_event(i % 150 + 1)) for i in range(400)))
    )
    while not recording.done():
        peak = max(peak, writer.in_flight)
        await asyncio.sleep(0)
    new = recording.result()
    assert new == [True] * 150 + [False] * 250
    assert peak == 2
    assert (commit.events, commit.transactions) == (400, 25)
    assert await ledger.event_count() == 400
    assert len(await ledger.videos()) == 150


async def test_each_event_gets_its_own_answer(ledger: Ledger) -> None:
    """Repeats inside one batch: only the first delivery of a video is new."""
    commit = GroupCommit(ledger)
    new = await asyncio.gather(*(commit.record(_event(v)) for v in (1, 2, 1, 3, 2)))
    assert new == [True, True, False, True, False]
    assert commit.transactions == 1


async def test_a_failed_transaction_fails_every_event_of_its_batch(ledger: Ledger) -> None:
    """When the commit fails, every waiter gets the LedgerError; none is told "recorded"."""
    commit = GroupCommit(ledger)
    ledger.close()
    outcomes = await asyncio.gather(
        *(commit.record(_event(i)) for i in range(1, 21)), return_exceptions=True
    )
    assert all(isinstance(o, LedgerError) for o in outcomes), outcomes
    assert commit.transactions == 0


async def test_a_cancelled_waiter_does_not_hold_up_the_others(ledger: Ledger) -> None:
    """A request that goes away before the commit: its event is still recorded (harmless,
    like a 202 the client did not wait for), and the others get their answers."""
    commit = GroupCommit(ledger)
    waiters = [asyncio.ensure_future(commit.record(_event(i))) for i in range(1, 11)]
    await asyncio.sleep(0)  # every waiter has queued its event
    waiters[3].cancel()
    done = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert [d for i, d in enumerate(done) if i != 3] == [True] * 9
    assert await ledger.event_count() == 10
    await commit.aclose()


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        secret_keys="group-commit-secret",
        sweeper="off",
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        allowed_cidrs="127.0.0.1/32",
    )


def _rows(path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def _post_all(url: str, ids: range) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(ids))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(url, json={"type": "video", "message": {"video": {"id": i}}})
                for i in ids
            )
        )


async def test_concurrent_webhooks_are_batched_and_all_recorded(tmp_path: Path) -> None:
    """200 concurrent webhooks over HTTP: 200 answers of 202, 200 rows, fewer commits."""
    settings = _settings(tmp_path)
    token = tokens.mint(PROFILE, settings.signing_keys)
    app = create_app(settings)
    with serve_in_thread(app) as base:
        responses = await _post_all(f"{base}/webhooks/gcore/{token}", range(1, 201))
        commit: GroupCommit = app.state.group_commit
        transactions = commit.transactions
    assert sorted(int(r.headers["x-autosubs-video-id"]) for r in responses) == list(range(1, 201))
    assert {(r.status_code, r.headers["x-autosubs-new"], r.content) for r in responses} == {
        (202, "true", b"")
    }
    assert _rows(tmp_path / "ledger.db", "events") == 200
    assert _rows(tmp_path / "ledger.db", "videos") == 200
    assert commit.events == 200
    assert transactions < 200, "every webhook had a transaction of its own"


async def test_webhooks_get_503_when_the_ledger_fails(tmp_path: Path) -> None:
    """The ledger cannot write: every webhook of the batch gets 503 and a reason, no 202."""
    settings = _settings(tmp_path)
    token = tokens.mint(PROFILE, settings.signing_keys)
    ledger = Ledger(settings.sqlite_path)
    with serve_in_thread(create_app(settings, ledger=ledger)) as base:
        # Broken under the service's feet: the writer's INSERT INTO events fails.
        with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as db:
            db.execute("DROP TABLE events")
        responses = await _post_all(f"{base}/webhooks/gcore/{token}", range(1, 21))
    ledger.close()
    assert {r.status_code for r in responses} == {503}
    assert all(r.json()["error"] for r in responses)
    assert _rows(tmp_path / "ledger.db", "videos") == 0


def _start_serve(env: dict[str, str], log_path: Path, base: str) -> subprocess.Popen[bytes]:
    """``python -m handler serve`` as our child process, once it answers /healthz."""
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "handler", "serve"], env=env, stdout=out,
            stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, log_path.read_text()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                return proc
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGKILL)
            raise AssertionError("service did not start: " + log_path.read_text()[-2000:])
        time.sleep(0.05)


def _writer_processes(ledger_path: Path) -> list[int]:
    """PIDs of live ledger writer processes for ``ledger_path``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if b"handler.sqlite_writer" in argv and str(ledger_path).encode() in argv:
                    found.append(int(proc.name))
    return found


async def test_serve_logs_one_canonical_line_per_webhook(tmp_path: Path) -> None:
    """``autosubs serve`` with JSON logs: every accepted webhook has its line (the group
    commit writes a batch's lines together), with the facts of its 202; the ledger writer
    process is gone once the service has stopped."""
    port = free_port()
    ledger_path = tmp_path / "ledger.db"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AUTOSUBS_SWEEPER": "off",
        "AUTOSUBS_SECRET_KEYS": "log-secret",
        "AUTOSUBS_ALLOWED_CIDRS": "127.0.0.1/32",
        "AUTOSUBS_DATABASE_URL": f"sqlite:///{ledger_path}",
        "AUTOSUBS_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "service.log"
    base = f"http://127.0.0.1:{port}"
    proc = _start_serve(env, log_path, base)
    try:
        assert len(_writer_processes(ledger_path)) == 1  # started with the service
        url = f"{base}/webhooks/gcore/{tokens.mint(PROFILE, ['log-secret'])}"
        responses = await _post_all(url, range(1, 21))
        responses += await _post_all(url, range(1, 21))
        assert {r.status_code for r in responses} == {202}
        assert len(_writer_processes(ledger_path)) == 1
        async with httpx.AsyncClient() as client:
            gone = await client.post(url, json={"type": "video_delete",
                                                "message": {"video": {"id": 3}}})  # fmt: skip
        assert gone.status_code == 202
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    accepted = [line for line in lines if line["event"] == "webhook_accepted"]
    videos = [line for line in accepted if line["type"] == "video"]
    assert len(videos) == 40
    fp = tokens.fingerprint(url.rsplit("/", 1)[1])
    for line in videos:
        assert list(line) == [
            "type", "video_id", "status", "new", "token_fp", "event", "level", "timestamp"
        ]  # fmt: skip
        assert (line["status"], line["token_fp"], line["level"]) == (None, fp, "info")
    assert sorted(line["video_id"] for line in videos if line["new"]) == list(range(1, 21))
    answered = {(int(r.headers["x-autosubs-video-id"]), r.headers["x-autosubs-new"] == "true")
                for r in responses}  # fmt: skip
    assert answered == {(line["video_id"], line["new"]) for line in videos}
    assert [line["video_id"] for line in accepted if line["type"] == "video_delete"] == [3]
    assert _writer_processes(ledger_path) == []
