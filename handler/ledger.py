"""The durable job ledger: one row per video, one per (video, target language) track job.

Two backends behind one interface (``LedgerProtocol``), chosen by ``open_ledger(url)``:

- ``sqlite:///PATH`` — this module's ``SqliteLedger``, SQLite in WAL mode: one process (or a
  few on one host) sharing a file.
- ``postgresql://…`` — ``handler.ledger_pg.PostgresLedger``, for several replicas.

Claims take a lease (``lease_owner``/``lease_until``); every result is recorded only while
the lease is still ours, so a sweeper that lost its lease can never overwrite a newer result
(it gets ``LeaseLost``). Schema changes are numbered migrations, applied when a ledger opens
(and by ``autosubs migrate``); a ledger written by a newer autosubs is refused.

For SQLite every write is one short transaction that never awaits, so the webhook route and
the sweeper can share a connection on one event loop, and several processes can share the
file (SQLite serialises writers; ``busy_timeout`` waits for the lock).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from handler import sqlite_db, sqlite_writer
from handler.errors import LedgerError
from handler.tokens import Profile

SPOKEN = "*"  # the target key of the transcription job: "whatever language is spoken"

VIDEO_DUE_STATES = ("new", "waiting")
TRACK_DUE_STATES = ("planned", "creating", "task_started", "cancelling")
TRACK_ACTIVE_STATES = ("creating", "task_started")  # an AI task exists (or is being made)
TRACK_TERMINAL_STATES = ("attached", "skipped", "failed", "cancelled")

# Columns a result may write; everything else (keys, leases, timestamps) is the ledger's.
TRACK_COLUMNS = frozenset(
    {
        "state", "language", "task_id", "subtitle_id", "reason", "attempts", "errors",
        "progress", "polls", "task_created_at", "task_done_at", "qc", "next_run_at",
    }
)  # fmt: skip
VIDEO_COLUMNS = frozenset(
    {"state", "reason", "mp4_url", "duration_s", "source_language", "existing", "next_run_at"}
)


class LeaseLost(LedgerError):
    """Another sweeper took this job over (our lease expired); the result was not recorded."""


def _json(value: Any) -> Any:
    """SQLite stores JSON as text; PostgreSQL's jsonb arrives already decoded."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def check_columns(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not {what} columns: {sorted(unknown)}")


def newer_schema(version: int, known: int) -> LedgerError:
    return LedgerError(
        f"the ledger has schema version {version}, newer than this autosubs ({known}): "
        "upgrade autosubs"
    )


@dataclass(frozen=True, slots=True)
class VideoJob:
    video_id: int
    profile: Profile
    state: str
    reason: str | None
    event_status: str | None
    mp4_url: str | None
    duration_s: float | None
    source_language: str | None
    existing: tuple[Any, ...]
    next_run_at: float
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | sqlite3.Row) -> VideoJob:
        return cls(
            video_id=row["video_id"],
            profile=Profile.model_validate(_json(row["profile"])),
            state=row["state"],
            reason=row["reason"],
            event_status=row["event_status"],
            mp4_url=row["mp4_url"],
            duration_s=row["duration_s"],
            source_language=row["source_language"],
            existing=tuple(_json(row["existing"]) or ()),
            next_run_at=row["next_run_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class TrackJob:
    video_id: int
    target: str
    kind: str
    state: str
    language: str | None
    task_id: str | None
    subtitle_id: int | None
    reason: str | None
    attempts: int
    errors: int
    progress: int | None
    polls: int
    task_created_at: float | None
    task_done_at: float | None
    qc: dict[str, Any] | None
    next_run_at: float
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | sqlite3.Row) -> TrackJob:
        return cls(
            video_id=row["video_id"],
            target=row["target"],
            kind=row["kind"],
            state=row["state"],
            language=row["language"],
            task_id=row["task_id"],
            subtitle_id=row["subtitle_id"],
            reason=row["reason"],
            attempts=row["attempts"],
            errors=row["errors"],
            progress=row["progress"],
            polls=row["polls"],
            task_created_at=row["task_created_at"],
            task_done_at=row["task_done_at"],
            qc=_json(row["qc"]) if row["qc"] else None,
            next_run_at=row["next_run_at"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @property
    def key(self) -> str:
        return f"{self.video_id}:{self.target}"


def by_due(jobs: list[Any]) -> list[Any]:
    """Claimed jobs in due order (UPDATE … RETURNING promises no order)."""
    return sorted(jobs, key=lambda j: (j.next_run_at, j.video_id, getattr(j, "target", "")))


class VideoEvent(NamedTuple):
    """A ``video`` webhook to record (``record_video_events``); ``now`` defaults to the clock.

    A NamedTuple, not a frozen dataclass: one is built per webhook, at a third of the cost.
    """

    video_id: int
    profile: Profile
    event_status: str | None
    due_in: float
    token_fp: str
    now: float | None = None


@dataclass(frozen=True, slots=True)
class NewTrack:
    """A track job to insert: one the planner decided on, or one rebuilt from what Gcore
    knows (``autosubs recover``: then it may already have a task and attempts)."""

    target: str
    kind: str
    state: str
    language: str | None = None
    reason: str | None = None
    subtitle_id: int | None = None
    task_id: str | None = None
    attempts: int = 0
    task_created_at: float | None = None


RestoredTrack = NewTrack  # the name recovery code speaks of


class LedgerProtocol(Protocol):
    """What the webhook route, the sweeper and the CLI may ask of a ledger (either backend).

    Times are epoch seconds; ``now`` defaults to the wall clock. Methods that record a
    result for a claimed job raise ``LeaseLost`` when ``owner`` no longer holds its lease;
    anything the database refuses or cannot do is a ``LedgerError``.
    """

    async def aclose(self) -> None: ...
    async def start_writer(self) -> None: ...
    async def stop_writer(self) -> None: ...
    async def ping(self) -> None: ...
    async def migrate(self, *, target: int = ...) -> int: ...
    async def schema_version(self) -> int: ...

    async def record_video_event(
        self,
        video_id: int,
        profile: Profile,
        *,
        event_status: str | None,
        due_in: float,
        token_fp: str,
        now: float | None = None,
    ) -> bool: ...
    async def record_video_events(self, events: Sequence[VideoEvent]) -> list[bool]: ...
    async def record_video_delete(
        self, video_id: int, *, token_fp: str, now: float | None = None
    ) -> int: ...

    async def claim_videos(
        self, owner: str, *, limit: int, lease_seconds: float, now: float | None = None
    ) -> list[VideoJob]: ...
    async def claim_tracks(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: float | None = None,
        max_active: int | None = None,
    ) -> list[TrackJob]: ...
    async def next_due_at(self) -> float | None: ...
    async def release_track(self, job: TrackJob, owner: str) -> None: ...
    async def release_all(self, owner: str) -> int: ...
    async def active_task_count(self) -> int: ...
    async def explain_claim(self) -> str: ...

    async def update_video(
        self, video_id: int, owner: str, *, now: float | None = None, **fields: Any
    ) -> None: ...
    async def defer_video(
        self, job: VideoJob, owner: str, *, delay: float, now: float | None = None, **fields: Any
    ) -> None: ...
    async def plan_video(
        self,
        video_id: int,
        owner: str,
        tracks: list[NewTrack],
        *,
        now: float | None = None,
        **video_fields: Any,
    ) -> None: ...
    async def update_track(
        self,
        job: TrackJob,
        owner: str,
        *,
        now: float | None = None,
        release: bool = True,
        renew_for: float = 0.0,
        **fields: Any,
    ) -> None: ...
    async def finish_source(
        self,
        job: TrackJob,
        owner: str,
        *,
        translations: dict[str, tuple[str, str | None]],
        source_language: str | None = None,
        now: float | None = None,
        **fields: Any,
    ) -> None: ...
    async def restore_video(
        self,
        video_id: int,
        profile: Profile,
        *,
        mp4_url: str | None,
        duration_s: float | None,
        source_language: str | None,
        existing: Sequence[Any],
        tracks: list[RestoredTrack],
        now: float | None = None,
    ) -> bool: ...

    async def get_video(self, video_id: int) -> VideoJob | None: ...
    async def tracks_of(self, video_id: int) -> list[TrackJob]: ...
    async def videos(self, limit: int = 1000) -> list[VideoJob]: ...
    async def counts(self) -> dict[str, dict[str, int]]: ...
    async def event_count(self) -> int: ...


async def open_ledger(database_url: str, *, migrate: bool = True) -> LedgerProtocol:
    """Open the ledger ``AUTOSUBS_DATABASE_URL`` names, applying migrations unless told not to.

    Close it with ``await ledger.aclose()``.
    """
    if database_url.startswith(("postgresql://", "postgres://")):
        from handler import ledger_pg

        return await ledger_pg.PostgresLedger.open(database_url, migrate=migrate)
    if database_url.startswith("sqlite:///"):
        return SqliteLedger(database_url.removeprefix("sqlite:///"), migrate=migrate)
    raise LedgerError(
        "AUTOSUBS_DATABASE_URL must start with sqlite:///, postgresql:// or postgres://"
    )


# --- SQLite ----------------------------------------------------------------------------------

# Migration N is the statements that bring a ledger from version N-1 to N (PRAGMA
# user_version). Never edit a released migration: add the next one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema
        """CREATE TABLE IF NOT EXISTS videos (
            video_id        INTEGER PRIMARY KEY,
            profile         TEXT    NOT NULL,
            state           TEXT    NOT NULL,
            reason          TEXT,
            event_status    TEXT,
            mp4_url         TEXT,
            duration_s      REAL,
            source_language TEXT,
            existing        TEXT    NOT NULL DEFAULT '[]',
            next_run_at     REAL    NOT NULL,
            lease_owner     TEXT,
            lease_until     REAL    NOT NULL DEFAULT 0,
            created_at      REAL    NOT NULL,
            updated_at      REAL    NOT NULL
        )""",
        """CREATE INDEX IF NOT EXISTS videos_due ON videos (next_run_at)
            WHERE state IN ('new', 'waiting')""",
        """CREATE TABLE IF NOT EXISTS tracks (
            video_id        INTEGER NOT NULL REFERENCES videos (video_id),
            target          TEXT    NOT NULL,
            kind            TEXT    NOT NULL,
            state           TEXT    NOT NULL,
            language        TEXT,
            task_id         TEXT,
            subtitle_id     INTEGER,
            reason          TEXT,
            attempts        INTEGER NOT NULL DEFAULT 0,
            errors          INTEGER NOT NULL DEFAULT 0,
            progress        INTEGER,
            polls           INTEGER NOT NULL DEFAULT 0,
            task_created_at REAL,
            task_done_at    REAL,
            qc              TEXT,
            next_run_at     REAL    NOT NULL,
            lease_owner     TEXT,
            lease_until     REAL    NOT NULL DEFAULT 0,
            created_at      REAL    NOT NULL,
            updated_at      REAL    NOT NULL,
            PRIMARY KEY (video_id, target)
        )""",
        """CREATE INDEX IF NOT EXISTS tracks_due ON tracks (next_run_at)
            WHERE state IN ('planned', 'creating', 'task_started', 'cancelling')""",
        """CREATE TABLE IF NOT EXISTS events (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            video_id    INTEGER NOT NULL,
            type        TEXT    NOT NULL,
            status      TEXT,
            token_fp    TEXT,
            received_at REAL    NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS events_video ON events (video_id, received_at)",
    ),
    (  # 2: the active-task cap and release_all look rows up by state and by lease owner
        "CREATE INDEX IF NOT EXISTS tracks_state ON tracks (state, lease_until)",
        """CREATE INDEX IF NOT EXISTS tracks_leased ON tracks (lease_owner)
            WHERE lease_owner IS NOT NULL""",
        """CREATE INDEX IF NOT EXISTS videos_leased ON videos (lease_owner)
            WHERE lease_owner IS NOT NULL""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

# The track claim. Jobs that have (or are making) a task are always claimable; ``planned``
# ones, which would start a new AI task, at most :budget of them. Both halves walk the
# partial index of due jobs in due order (its exact state list makes it usable; INDEXED BY
# keeps SQLite from preferring tracks_state, which would read every non-due planned job).
_CLAIM_TRACKS = """
UPDATE tracks SET lease_owner = :owner, lease_until = :until WHERE rowid IN (
    SELECT rid FROM (
        SELECT rid, next_run_at FROM (
            SELECT rowid AS rid, next_run_at FROM tracks INDEXED BY tracks_due
            WHERE state IN ('planned', 'creating', 'task_started', 'cancelling')
              AND state != 'planned' AND next_run_at <= :now AND lease_until < :now
            ORDER BY next_run_at LIMIT :limit)
        UNION ALL
        SELECT rid, next_run_at FROM (
            SELECT rowid AS rid, next_run_at FROM tracks INDEXED BY tracks_due
            WHERE state IN ('planned', 'creating', 'task_started', 'cancelling')
              AND state = 'planned' AND next_run_at <= :now AND lease_until < :now
            ORDER BY next_run_at LIMIT :budget)
    ) ORDER BY next_run_at LIMIT :limit
) RETURNING *
"""
# Tasks in flight on the account, plus planned jobs someone is about to start one for.
_BUSY = """
SELECT (SELECT COUNT(*) FROM tracks WHERE state IN ('creating', 'task_started'))
     + (SELECT COUNT(*) FROM tracks WHERE state = 'planned' AND lease_until >= :now)
"""
_INSERT_TRACK = """
INSERT INTO tracks (video_id, target, kind, state, language, reason, subtitle_id, task_id,
                    attempts, task_created_at, next_run_at, created_at, updated_at)
VALUES (:video_id, :target, :kind, :state, :language, :reason, :subtitle_id, :task_id,
        :attempts, :task_created_at, :now, :now, :now)
ON CONFLICT DO NOTHING
"""


def track_params(video_id: int, track: NewTrack, now: float) -> dict[str, Any]:
    """Insert parameters of a track job."""
    return {
        "video_id": video_id,
        "target": track.target,
        "kind": track.kind,
        "state": track.state,
        "language": track.language,
        "reason": track.reason,
        "subtitle_id": track.subtitle_id,
        "task_id": track.task_id,
        "attempts": track.attempts,
        "task_created_at": track.task_created_at,
        "now": now,
    }


class LedgerBase:
    """What both backends share above their SQL: the single-webhook form of a batch."""

    async def start_writer(self) -> None:
        """Get ready for a stream of webhook batches (``autosubs serve``); see SqliteLedger."""

    async def stop_writer(self) -> None:
        """Undo ``start_writer`` once the last batch is recorded."""

    async def record_video_events(self, events: Sequence[VideoEvent]) -> list[bool]:
        raise NotImplementedError

    async def record_video_event(
        self,
        video_id: int,
        profile: Profile,
        *,
        event_status: str | None,
        due_in: float,
        token_fp: str,
        now: float | None = None,
    ) -> bool:
        """Record a ``video`` webhook. A duplicate only brings a waiting video's check forward.

        Returns True when the video is new to the ledger.
        """
        event = VideoEvent(video_id, profile, event_status, due_in, token_fp, now)
        [new] = await self.record_video_events([event])
        return new


class SqliteLedger(LedgerBase):
    """The SQLite backend. Methods are async for the callers' sake; none of them awaits."""

    def __init__(self, path: str, *, migrate: bool = True) -> None:
        self.path = path
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite_db.connect(path)
            if migrate:
                self._migrate(SCHEMA_VERSION)
            elif self._version() > SCHEMA_VERSION:
                raise newer_schema(self._version(), SCHEMA_VERSION)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger at {path}: {exc}") from exc
        self._writer: sqlite_writer.WriterProcess | None = None

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, target: int) -> None:
        """Apply migrations up to ``target``, each in its own transaction."""
        if self._version() > SCHEMA_VERSION:
            raise newer_schema(self._version(), SCHEMA_VERSION)
        for version in range(self._version() + 1, target + 1):
            with self._tx() as db:
                # Re-read under the write lock: another process may have migrated meanwhile.
                if self._version() >= version:
                    continue
                for statement in _MIGRATIONS[version - 1]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version}")

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_db.transaction(self._db)

    def close(self) -> None:
        self._db.close()

    async def aclose(self) -> None:
        await self.stop_writer()
        self.close()

    async def ping(self) -> None:
        try:
            self._db.execute("SELECT 1 FROM videos LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger unreachable: {exc}") from exc

    async def migrate(self, *, target: int = SCHEMA_VERSION) -> int:
        """Apply pending migrations (up to ``target``); returns the schema version in force."""
        self._migrate(target)
        return self._version()

    async def schema_version(self) -> int:
        return self._version()

    # --- webhooks -------------------------------------------------------------------------

    async def record_video_events(self, events: Sequence[VideoEvent]) -> list[bool]:
        """``record_video_event`` for each event in order, all in one transaction.

        Returns, per event, whether its video was new to the ledger. After ``start_writer``
        the transaction runs in the writer process (``handler.sqlite_writer``).
        """
        if self._writer is not None:
            return await self._writer.write(sqlite_db.event_rows(events))
        return sqlite_db.record_video_events(self._db, events)

    async def start_writer(self) -> None:
        """Record webhook batches in a child process from now on (not for ``:memory:``,
        which no other connection can see)."""
        if self._writer is None and self.path != ":memory:":
            writer = sqlite_writer.WriterProcess(self.path)
            await writer.start()
            self._writer = writer
            # The writer process checkpoints the WAL; this connection's commits (the
            # sweeper's, on the event loop) must not stall on one.
            sqlite_db.set_autocheckpoint(self._db, on=False)

    async def stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.aclose()
            sqlite_db.set_autocheckpoint(self._db, on=True)

    async def record_video_delete(
        self, video_id: int, *, token_fp: str, now: float | None = None
    ) -> int:
        """Cancel a deleted video's work; returns how many track jobs were stopped."""
        now = time.time() if now is None else now
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (video_id, type, status, token_fp, received_at) "
                "VALUES (?, 'video_delete', 'deleted', ?, ?)",
                (video_id, token_fp, now),
            )
            db.execute(
                "UPDATE videos SET state = 'cancelled', reason = 'video deleted', "
                "lease_owner = NULL, lease_until = 0, "
                "updated_at = ? WHERE video_id = ? AND state != 'cancelled'",
                (now, video_id),
            )
            # A task may exist on Gcore (or be being created): the sweeper cancels it there.
            # Taking the lease away makes a sweeper that is mid-call unable to record over it.
            with_task = db.execute(
                "UPDATE tracks SET state = 'cancelling', reason = 'video deleted', "
                "lease_owner = NULL, lease_until = 0, "
                "next_run_at = ?, updated_at = ? WHERE video_id = ? "
                "AND state IN ('creating', 'task_started')",
                (now, now, video_id),
            ).rowcount
            without = db.execute(
                "UPDATE tracks SET state = 'cancelled', reason = 'video deleted', "
                "lease_owner = NULL, lease_until = 0, "
                "updated_at = ? WHERE video_id = ? AND state IN ('planned', 'waiting')",
                (now, video_id),
            ).rowcount
            return with_task + without

    # --- claims ---------------------------------------------------------------------------

    async def claim_videos(
        self, owner: str, *, limit: int, lease_seconds: float, now: float | None = None
    ) -> list[VideoJob]:
        now = time.time() if now is None else now
        with self._tx() as db:
            rows = db.execute(
                "UPDATE videos SET lease_owner = ?, lease_until = ? WHERE video_id IN ("
                " SELECT video_id FROM videos WHERE state IN ('new', 'waiting')"
                " AND next_run_at <= ? AND lease_until < ? ORDER BY next_run_at LIMIT ?"
                ") RETURNING *",
                (owner, now + lease_seconds, now, now, limit),
            ).fetchall()
        return by_due([VideoJob.from_row(row) for row in rows])

    async def claim_tracks(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: float | None = None,
        max_active: int | None = None,
    ) -> list[TrackJob]:
        """Lease up to ``limit`` due track jobs, most overdue first.

        With ``max_active``, ``planned`` jobs (each would start an AI task) are only taken
        while tasks in flight plus planned jobs under a lease stay below it. BEGIN IMMEDIATE
        makes this count-then-claim atomic across processes.
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            budget = limit
            if max_active is not None:
                busy = int(db.execute(_BUSY, {"now": now}).fetchone()[0])
                budget = max(0, min(limit, max_active - busy))
            rows = db.execute(
                _CLAIM_TRACKS,
                {"owner": owner, "until": now + lease_seconds, "now": now, "limit": limit,
                 "budget": budget},
            ).fetchall()  # fmt: skip
        return by_due([TrackJob.from_row(row) for row in rows])

    async def release_all(self, owner: str) -> int:
        """Give back every lease ``owner`` holds (graceful shutdown); returns how many."""
        with self._tx() as db:
            return sum(
                db.execute(
                    f"UPDATE {table} SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?",
                    (owner,),
                ).rowcount
                for table in ("videos", "tracks")
            )

    async def active_task_count(self) -> int:
        """Track jobs whose AI task is in flight (or being created) on the account."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM tracks WHERE state IN ('creating', 'task_started')"
        ).fetchone()
        return int(row[0])

    async def explain_claim(self) -> str:
        """The query plan of the track claim (SQLite's EXPLAIN QUERY PLAN details)."""
        now = time.time()
        params = {"owner": "explain", "until": now, "now": now, "limit": 50, "budget": 50}
        rows = self._db.execute("EXPLAIN QUERY PLAN " + _CLAIM_TRACKS, params).fetchall()
        return "\n".join(str(row["detail"]) for row in rows)

    async def next_due_at(self) -> float | None:
        row = self._db.execute(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(next_run_at) AS t FROM videos WHERE state IN ('new', 'waiting')"
            " UNION ALL SELECT MIN(next_run_at) FROM tracks"
            " WHERE state IN ('planned', 'creating', 'task_started', 'cancelling'))"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    # --- results (lease-checked) ----------------------------------------------------------

    async def update_video(
        self, video_id: int, owner: str, *, now: float | None = None, **fields: Any
    ) -> None:
        now = time.time() if now is None else now
        with self._tx() as db:
            self._update_video(db, video_id, owner, now, fields)

    async def defer_video(
        self, job: VideoJob, owner: str, *, delay: float, now: float | None = None, **fields: Any
    ) -> None:
        """Look at the video again after ``delay``, or at once if a webhook came in meanwhile."""
        now = time.time() if now is None else now
        with self._tx() as db:
            self._update_video(db, job.video_id, owner, now, fields)
            # A webhook recorded while we held the lease moved updated_at past what we saw.
            bumped = db.execute(
                "SELECT COUNT(*) FROM events WHERE video_id = ? AND received_at > ?",
                (job.video_id, job.updated_at),
            ).fetchone()[0]
            db.execute(
                "UPDATE videos SET next_run_at = ? WHERE video_id = ?",
                (now if bumped else now + delay, job.video_id),
            )

    def _update_video(
        self, db: sqlite3.Connection, video_id: int, owner: str, now: float, fields: dict[str, Any]
    ) -> None:
        check_columns(fields, VIDEO_COLUMNS, "video")
        values = {k: json.dumps(v) if k == "existing" else v for k, v in fields.items()}
        sets = "".join(f"{column} = :{column}, " for column in values)
        cursor = db.execute(
            f"UPDATE videos SET {sets}updated_at = :now, lease_owner = NULL, lease_until = 0 "
            "WHERE video_id = :video_id AND lease_owner = :owner AND state != 'cancelled'",
            {**values, "now": now, "video_id": video_id, "owner": owner},
        )
        if cursor.rowcount != 1:
            raise LeaseLost(f"video {video_id}: lease lost or video cancelled")

    async def plan_video(
        self,
        video_id: int,
        owner: str,
        tracks: list[NewTrack],
        *,
        now: float | None = None,
        **video_fields: Any,
    ) -> None:
        """Store the planner's track jobs and mark the video planned, atomically."""
        now = time.time() if now is None else now
        with self._tx() as db:
            self._update_video(db, video_id, owner, now, {"state": "planned", **video_fields})
            db.executemany(_INSERT_TRACK, [track_params(video_id, t, now) for t in tracks])

    async def restore_video(
        self,
        video_id: int,
        profile: Profile,
        *,
        mp4_url: str | None,
        duration_s: float | None,
        source_language: str | None,
        existing: Sequence[Any],
        tracks: list[RestoredTrack],
        now: float | None = None,
    ) -> bool:
        """Insert a planned video and its track jobs, rebuilt from Gcore, all due now.

        Only for a video the ledger does not know: returns False (and changes nothing)
        otherwise.
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            inserted = db.execute(
                "INSERT INTO videos (video_id, profile, state, mp4_url, duration_s, "
                "source_language, existing, next_run_at, created_at, updated_at) "
                "VALUES (?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (video_id) DO NOTHING",
                (video_id, profile.model_dump_json(), mp4_url, duration_s, source_language,
                 json.dumps(list(existing)), now, now, now),
            ).rowcount  # fmt: skip
            if not inserted:
                return False
            db.executemany(_INSERT_TRACK, [track_params(video_id, t, now) for t in tracks])
            return True

    async def update_track(
        self,
        job: TrackJob,
        owner: str,
        *,
        now: float | None = None,
        release: bool = True,
        renew_for: float = 0.0,
        **fields: Any,
    ) -> None:
        """Record a result for a claimed track job and release its lease.

        With ``release=False`` (an intent, written just before a call that creates something
        on Gcore) the lease must still be running, and is renewed for ``renew_for`` seconds:
        a job whose lease ran out may already be someone else's, so we must not act on it.
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            self._update_track(db, job.video_id, job.target, owner, now, fields, release, renew_for)

    def _update_track(
        self,
        db: sqlite3.Connection,
        video_id: int,
        target: str,
        owner: str,
        now: float,
        fields: dict[str, Any],
        release: bool = True,
        renew_for: float = 0.0,
    ) -> None:
        check_columns(fields, TRACK_COLUMNS, "track")
        values = {k: json.dumps(v) if k == "qc" and v is not None else v for k, v in fields.items()}
        sets = "".join(f"{column} = :{column}, " for column in values)
        if release:
            lease, running = "lease_owner = NULL, lease_until = 0", ""
        else:
            lease, running = "lease_until = :renewed", " AND lease_until > :now"
        cursor = db.execute(
            f"UPDATE tracks SET {sets}updated_at = :now, {lease} "
            f"WHERE video_id = :video_id AND target = :target AND lease_owner = :owner{running}",
            {**values, "now": now, "video_id": video_id, "target": target, "owner": owner,
             "renewed": now + renew_for},
        )  # fmt: skip
        if cursor.rowcount != 1:
            raise LeaseLost(f"track {video_id}:{target}: lease lost")

    async def finish_source(
        self,
        job: TrackJob,
        owner: str,
        *,
        translations: dict[str, tuple[str, str | None]],
        source_language: str | None = None,
        now: float | None = None,
        **fields: Any,
    ) -> None:
        """Record the transcription's outcome and release (or settle) the waiting translations.

        ``translations`` maps a waiting target to its new (state, reason).
        """
        now = time.time() if now is None else now
        with self._tx() as db:
            self._update_track(db, job.video_id, job.target, owner, now, fields)
            if source_language:
                db.execute(
                    "UPDATE videos SET source_language = ?, updated_at = ? WHERE video_id = ?",
                    (source_language, now, job.video_id),
                )
            for target, (state, reason) in translations.items():
                db.execute(
                    "UPDATE tracks SET state = ?, reason = ?, next_run_at = ?, updated_at = ? "
                    "WHERE video_id = ? AND target = ? AND state = 'waiting'",
                    (state, reason, now, now, job.video_id, target),
                )

    async def release_track(self, job: TrackJob, owner: str) -> None:
        """Give a claimed job back untouched (shutdown)."""
        with self._tx() as db:
            db.execute(
                "UPDATE tracks SET lease_owner = NULL, lease_until = 0 "
                "WHERE video_id = ? AND target = ? AND lease_owner = ?",
                (job.video_id, job.target, owner),
            )

    # --- reads ----------------------------------------------------------------------------

    async def get_video(self, video_id: int) -> VideoJob | None:
        row = self._db.execute("SELECT * FROM videos WHERE video_id = ?", (video_id,)).fetchone()
        return VideoJob.from_row(row) if row else None

    async def tracks_of(self, video_id: int) -> list[TrackJob]:
        rows = self._db.execute(
            "SELECT * FROM tracks WHERE video_id = ? ORDER BY target = '*' DESC, target",
            (video_id,),
        ).fetchall()
        return [TrackJob.from_row(row) for row in rows]

    async def videos(self, limit: int = 1000) -> list[VideoJob]:
        rows = self._db.execute(
            "SELECT * FROM videos ORDER BY created_at DESC, video_id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [VideoJob.from_row(row) for row in rows]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Rows per state, for /metrics."""
        out: dict[str, dict[str, int]] = {"videos": {}, "tracks": {}}
        for table in ("videos", "tracks"):
            for state, n in self._db.execute(
                f"SELECT state, COUNT(*) FROM {table} GROUP BY state"
            ).fetchall():
                out[table][state] = n
        return out

    async def event_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


Ledger = SqliteLedger  # the name the tests and older callers know
