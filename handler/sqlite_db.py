"""SQLite connections and transactions, and the webhooks' batch write.

The webhook route is the one place where the service must keep up with a burst, and the
group commit of its events is a large share of a webhook's cost. Its rows go in as
multi-row INSERTs: one statement per row costs about twice as much (binding and stepping
each). A statement's text depends on its row count, so batches are cut into at most seven
sizes (``batch_sizes``), which stay in sqlite3's statement cache.

Measured and rejected: running the batch on a writer thread with its own connection.
sqlite3 releases the GIL while SQLite works, but handing batches across threads and
winning the GIL back from a busy event loop cost more than the overlap gained: the ingest
benchmark fell from ~10,000 to ~7,000 webhooks/s.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from handler.errors import LedgerError

if TYPE_CHECKING:
    from handler.ledger import VideoEvent

MAX_ROWS_PER_STATEMENT = 64
BUSY_TIMEOUT_S = 10.0
MMAP_BYTES = 256 * 1024 * 1024
AUTOCHECKPOINT_PAGES = 1000  # SQLite's default


def connect(path: str, *, autocheckpoint: bool = True) -> sqlite3.Connection:
    """A ledger connection: autocommit (we BEGIN ourselves), WAL, synchronous=NORMAL.

    ``autocheckpoint=False`` when something else checkpoints (``sqlite_writer.Checkpointer``).
    """
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                         timeout=BUSY_TIMEOUT_S)  # fmt: skip
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a crash of the process (kill -9), the
    # durability the webhook's 202 promises; only an OS crash can lose the last ones.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    # Pages are read through a memory map rather than read(2) into SQLite's own 2 MiB cache:
    # once the ledger outgrows that cache, every B-tree descent of a webhook's upsert would
    # cost system calls (the ingest bench lost ~15 % by 300,000 webhooks). Address space
    # only; the kernel's page cache holds the pages either way.
    db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    set_autocheckpoint(db, on=autocheckpoint)
    return db


def set_autocheckpoint(db: sqlite3.Connection, *, on: bool) -> None:
    db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES if on else 0}")


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error); SQLite errors become ``LedgerError``."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except (sqlite3.Error, OverflowError) as exc:  # OverflowError: an int beyond 64 bits
        raise LedgerError(f"ledger write failed: {exc}") from exc


def batch_sizes(count: int) -> Iterator[tuple[int, int]]:
    """(start, size) chunks of ``count`` rows: 64s, then the binary digits of the rest."""
    start = 0
    size = MAX_ROWS_PER_STATEMENT
    while count:
        while size > count:
            size //= 2
        yield start, size
        start += size
        count -= size


@functools.cache
def _known_videos_sql(rows: int) -> str:
    return "SELECT video_id FROM videos WHERE video_id IN (" + ",".join("?" * rows) + ")"


@functools.cache
def _insert_events_sql(rows: int) -> str:
    return "INSERT INTO events (video_id, type, status, token_fp, received_at) VALUES " + ",".join(
        ["(?, 'video', ?, ?, ?)"] * rows
    )


@functools.cache
def _upsert_videos_sql(rows: int) -> str:
    # A video already known only has its check brought forward, and only while it waits.
    return (
        "INSERT INTO videos (video_id, profile, state, event_status, next_run_at, "
        "created_at, updated_at) VALUES "
        + ",".join(["(?, ?, 'new', ?, ?, ?, ?)"] * rows)
        + " ON CONFLICT (video_id) DO UPDATE SET event_status = excluded.event_status, "
        "updated_at = excluded.updated_at, "
        "next_run_at = MIN(videos.next_run_at, excluded.next_run_at) "
        "WHERE videos.state IN ('new', 'waiting')"
    )


def _executemany_rows(
    db: sqlite3.Connection, sql: Callable[[int], str], rows: Sequence[tuple[Any, ...]]
) -> Iterator[sqlite3.Cursor]:
    for start, size in batch_sizes(len(rows)):
        yield db.execute(sql(size), [value for row in rows[start : start + size] for value in row])


# One webhook as the batch write takes it: (video_id, event_status, token_fp, received_at,
# next_run_at, profile JSON). Plain values, so a batch can cross to the writer process.
EventRow = tuple[int, str | None, str, float, float, str]


def event_rows(events: Sequence[VideoEvent]) -> list[EventRow]:
    """The rows of a batch of webhooks; events without ``now`` share the clock."""
    clock = time.time()
    profiles: dict[int, str] = {}  # the events of a batch mostly share one Profile object
    rows: list[EventRow] = []
    for event in events:
        now = clock if event.now is None else event.now
        profile = profiles.get(id(event.profile))
        if profile is None:
            profile = profiles[id(event.profile)] = event.profile.model_dump_json()
        rows.append(
            (event.video_id, event.event_status, event.token_fp, now, now + event.due_in, profile)
        )
    return rows


def record_video_events(db: sqlite3.Connection, events: Sequence[VideoEvent]) -> list[bool]:
    """``record_event_rows`` of the events."""
    return record_event_rows(db, event_rows(events))


def record_event_rows(db: sqlite3.Connection, rows: Sequence[EventRow]) -> list[bool]:
    """Record ``video`` webhooks in one transaction; per row, whether its video was new.

    Same outcome as one event after the other: every event gets its ``events`` row; a new
    video gets its row, a known one that still waits has its check brought forward.
    """
    ids = [(row[0],) for row in rows]
    events = [(video_id, status, fp, now) for video_id, status, fp, now, _, _ in rows]
    videos = [
        (video_id, profile, status, due, now, now)
        for video_id, status, _, now, due, profile in rows
    ]
    with transaction(db):
        known = {row[0] for cur in _executemany_rows(db, _known_videos_sql, ids) for row in cur}
        for _ in _executemany_rows(db, _insert_events_sql, events):
            pass
        for _ in _executemany_rows(db, _upsert_videos_sql, videos):
            pass
    new: list[bool] = []
    for (video_id,) in ids:  # a repeat within the batch finds the row its first one made
        new.append(video_id not in known)
        known.add(video_id)
    return new
