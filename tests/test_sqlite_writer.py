"""The SQLite ledger's writer process (handler.sqlite_writer), as the service uses it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handler import sqlite_db
from handler.errors import LedgerError
from handler.ledger import SqliteLedger, VideoEvent
from handler.sqlite_writer import WriterProcess
from handler.tokens import Profile

PROFILE = Profile(languages=("fre",))
T0 = 1_700_000_000.0


def _rows(*ids: int, status: str = "ready") -> list[sqlite_db.EventRow]:
    return sqlite_db.event_rows([VideoEvent(i, PROFILE, status, 0.0, "fp", now=T0) for i in ids])


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    ledger = SqliteLedger(str(tmp_path / "ledger.db"))
    await ledger.start_writer()
    yield ledger
    await ledger.aclose()


def _writer(ledger: SqliteLedger) -> WriterProcess:
    writer = ledger._writer
    assert writer is not None
    return writer


async def _wait_dead(pid: int) -> None:
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"process {pid} did not exit")


async def test_batches_sent_together_get_their_own_answers(ledger: SqliteLedger) -> None:
    """Three batches in flight at once, sharing videos: each answer is its own batch's, as
    if they had been recorded one after the other."""
    first, second, third = await asyncio.gather(
        ledger.record_video_events([VideoEvent(i, PROFILE, "ready", 0.0, "a") for i in (1, 2)]),
        ledger.record_video_events([VideoEvent(i, PROFILE, "ready", 0.0, "b") for i in (2, 3)]),
        ledger.record_video_events([VideoEvent(i, PROFILE, "ready", 0.0, "c") for i in (3, 3)]),
    )
    assert (first, second, third) == ([True, True], [False, True], [False, False])
    assert await ledger.event_count() == 6
    assert sorted(v.video_id for v in await ledger.videos()) == [1, 2, 3]
    assert _writer(ledger).started == 1


async def test_a_refused_batch_is_an_error_and_the_writer_goes_on(
    ledger: SqliteLedger, tmp_path: Path
) -> None:
    """A batch SQLite refuses is rolled back whole and reported; the next one is recorded
    by the same child. A value JSON cannot carry never leaves the service."""
    writer = _writer(ledger)
    refused = [*_rows(10), (None, "ready", "fp", T0, T0, PROFILE.model_dump_json())]
    with pytest.raises(LedgerError, match="NOT NULL"):
        await writer.write(refused)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="ledger write failed"):
        await writer.write(_rows(2**64))
    assert await writer.write(_rows(11)) == [True]
    assert _count(tmp_path / "ledger.db", "events") == 1
    assert writer.started == 1


async def test_a_killed_writer_fails_its_batch_and_a_new_one_takes_over(
    ledger: SqliteLedger,
) -> None:
    """kill -9 of the child: what was sent to it fails (nothing promised), the next batch
    starts a new child, and everything it acknowledged is in the ledger."""
    writer = _writer(ledger)
    assert await writer.write(_rows(1)) == [True]
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await _wait_dead(pid)
    outcomes: list[bool | str] = []
    for video_id in range(2, 6):
        try:
            outcomes.append((await writer.write(_rows(video_id)))[0])
        except LedgerError as exc:
            outcomes.append(str(exc))
    # At most the batch that was on its way to the dead child fails, with a clear reason.
    assert outcomes.count(True) >= 3
    assert all(o is True or "writer process exited" in str(o) for o in outcomes)
    assert writer.started == 2 and writer.pid != pid
    recorded = {v.video_id for v in await ledger.videos()}
    assert {1} | {n for n, o in zip(range(2, 6), outcomes, strict=True) if o is True} <= recorded


async def test_signals_to_the_process_group_do_not_stop_the_writer(ledger: SqliteLedger) -> None:
    """Ctrl-C or a group SIGTERM reaches the child too; it keeps serving until the service
    closes it, so the batches of a graceful shutdown still commit."""
    writer = _writer(ledger)
    assert await writer.write(_rows(1)) == [True]
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    os.kill(pid, signal.SIGINT)
    await asyncio.sleep(0.2)
    assert await writer.write(_rows(2)) == [True]
    assert writer.pid == pid and writer.started == 1


async def test_close_commits_what_was_sent_then_the_child_exits(
    ledger: SqliteLedger, tmp_path: Path
) -> None:
    writer = _writer(ledger)
    batches = [asyncio.ensure_future(writer.write(_rows(i))) for i in range(1, 41)]
    while writer.in_flight + sum(b.done() for b in batches) < 40:
        await asyncio.sleep(0)  # until every batch is sent (the first starts the child)
    pid = writer.pid
    assert pid is not None
    await ledger.stop_writer()
    assert all(b.result() == [True] for b in batches)
    await _wait_dead(pid)
    assert _count(tmp_path / "ledger.db", "videos") == 40
    with pytest.raises(LedgerError, match="closed"):
        await writer.write(_rows(41))
    # Without a writer the ledger records in-process again.
    assert await ledger.record_video_events([VideoEvent(99, PROFILE, None, 0.0, "fp")]) == [True]


async def test_an_in_memory_ledger_never_starts_a_writer() -> None:
    ledger = SqliteLedger(":memory:")
    await ledger.start_writer()
    assert ledger._writer is None
    assert await ledger.record_video_events([VideoEvent(1, PROFILE, None, 0.0, "fp")]) == [True]
    await ledger.aclose()


async def test_the_writer_checkpoints_so_no_commit_has_to(
    ledger: SqliteLedger, tmp_path: Path
) -> None:
    """While the writer runs, no connection checkpoints inside a COMMIT (that would stall
    webhooks on an fsync); the writer's own thread copies the WAL into the database."""
    db_file = tmp_path / "ledger.db"
    assert ledger._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    size_before = db_file.stat().st_size
    writer = _writer(ledger)
    for start in range(0, 3200, 32):
        await writer.write(_rows(*range(start + 1, start + 33)))
    for _ in range(100):  # the checkpointer runs shortly after commits
        if db_file.stat().st_size > size_before + 100_000:
            break
        await asyncio.sleep(0.05)
    assert db_file.stat().st_size > size_before + 100_000, "the WAL was never checkpointed"
    await ledger.stop_writer()
    assert ledger._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


async def test_the_services_own_commits_are_checkpointed_too(
    ledger: SqliteLedger, tmp_path: Path
) -> None:
    """Commits on the service's connection (the sweeper's) with no webhook at all: the
    writer's checkpointer copies them into the database within a few seconds anyway."""
    db_file = tmp_path / "ledger.db"
    size_before = db_file.stat().st_size
    events = [VideoEvent(i, PROFILE, "ready", 0.0, "fp", now=T0) for i in range(1, 3201)]
    sqlite_db.record_video_events(ledger._db, events)  # on the service's own connection
    for _ in range(200):
        if db_file.stat().st_size > size_before + 100_000:
            break
        await asyncio.sleep(0.05)
    assert db_file.stat().st_size > size_before + 100_000, "the WAL was never checkpointed"
    assert _writer(ledger).started == 1
