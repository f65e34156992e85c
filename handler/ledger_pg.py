"""The PostgreSQL backend of the ledger, for several replicas (psycopg 3 + a connection pool).

Same interface and semantics as ``handler.ledger.SqliteLedger``; what differs is how
replicas stay out of each other's way:

- claims lock the rows they take with ``FOR UPDATE SKIP LOCKED``, so concurrent sweepers
  never wait for each other nor take the same job; the lease (``lease_until``) then keeps the
  job ours between transactions, and a replica that dies gives it back when it expires;
- a claim that honours ``max_active`` first takes a transaction-scoped advisory lock, so
  "count the tasks in flight, then take planned jobs up to the cap" is atomic across
  replicas;
- migrations run under another advisory lock, so replicas starting together apply each
  migration once.

It works through PgBouncer in transaction-pooling mode (Gcore's managed PostgreSQL): no
server-side prepared statements (``prepare_threshold=None``), no session state, and both
advisory locks are ``pg_advisory_xact_lock`` (released at COMMIT). The pool checks each
connection before lending it, so after a server restart the next operation gets a fresh one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from handler.config import redact_database_url
from handler.errors import LedgerError
from handler.ledger import (
    TRACK_COLUMNS,
    VIDEO_COLUMNS,
    LeaseLost,
    LedgerBase,
    NewTrack,
    RestoredTrack,
    TrackJob,
    VideoEvent,
    VideoJob,
    by_due,
    check_columns,
    newer_schema,
    track_params,
)
from handler.tokens import Profile

# pg_advisory_xact_lock keys: b"autosub" + 1 and + 2.
_MIGRATE_LOCK = 0x6175746F73756201
_CLAIM_LOCK = 0x6175746F73756202
_JSON_COLUMNS = frozenset({"existing", "qc"})
_PING_TIMEOUT = 3.0  # /readyz answers within a probe's patience when the server is away

# Migration N brings the schema from version N-1 to N; never edit a released one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first schema (SQLite's migration 1 in PostgreSQL types)
        """CREATE TABLE videos (
            video_id        bigint           PRIMARY KEY,
            profile         jsonb            NOT NULL,
            state           text             NOT NULL,
            reason          text,
            event_status    text,
            mp4_url         text,
            duration_s      double precision,
            source_language text,
            existing        jsonb            NOT NULL DEFAULT '[]',
            next_run_at     double precision NOT NULL,
            lease_owner     text,
            lease_until     double precision NOT NULL DEFAULT 0,
            created_at      double precision NOT NULL,
            updated_at      double precision NOT NULL
        )""",
        """CREATE INDEX videos_due ON videos (next_run_at)
            WHERE state IN ('new', 'waiting')""",
        """CREATE TABLE tracks (
            video_id        bigint           NOT NULL REFERENCES videos (video_id),
            target          text             NOT NULL,
            kind            text             NOT NULL,
            state           text             NOT NULL,
            language        text,
            task_id         text,
            subtitle_id     bigint,
            reason          text,
            attempts        integer          NOT NULL DEFAULT 0,
            errors          integer          NOT NULL DEFAULT 0,
            progress        integer,
            polls           integer          NOT NULL DEFAULT 0,
            task_created_at double precision,
            task_done_at    double precision,
            qc              jsonb,
            next_run_at     double precision NOT NULL,
            lease_owner     text,
            lease_until     double precision NOT NULL DEFAULT 0,
            created_at      double precision NOT NULL,
            updated_at      double precision NOT NULL,
            PRIMARY KEY (video_id, target)
        )""",
        """CREATE INDEX tracks_due ON tracks (next_run_at)
            WHERE state IN ('planned', 'creating', 'task_started', 'cancelling')""",
        """CREATE TABLE events (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            video_id    bigint           NOT NULL,
            type        text             NOT NULL,
            status      text,
            token_fp    text,
            received_at double precision NOT NULL
        )""",
        "CREATE INDEX events_video ON events (video_id, received_at)",
    ),
    (  # 2: the active-task cap and release_all look rows up by state and by lease owner
        "CREATE INDEX tracks_state ON tracks (state, lease_until)",
        "CREATE INDEX tracks_leased ON tracks (lease_owner) WHERE lease_owner IS NOT NULL",
        "CREATE INDEX videos_leased ON videos (lease_owner) WHERE lease_owner IS NOT NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

# --- named queries ----------------------------------------------------------------------------

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer          PRIMARY KEY,
    applied_at double precision NOT NULL
)"""
SCHEMA_VERSION_QUERY = "SELECT coalesce(max(version), 0) AS version FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, %s)"
HAS_MIGRATIONS_TABLE = "SELECT to_regclass('schema_migrations') IS NOT NULL AS present"

INSERT_EVENT = """
INSERT INTO events (video_id, type, status, token_fp, received_at)
VALUES (%(video_id)s, %(type)s, %(status)s, %(token_fp)s, %(now)s)"""
INSERT_VIDEO = """
INSERT INTO videos (video_id, profile, state, event_status, next_run_at, created_at, updated_at)
VALUES (%(video_id)s, %(profile)s, 'new', %(status)s, %(due)s, %(now)s, %(now)s)
ON CONFLICT (video_id) DO NOTHING"""
BRING_VIDEO_FORWARD = """
UPDATE videos SET event_status = %(status)s, updated_at = %(now)s,
       next_run_at = least(next_run_at, %(due)s)
WHERE video_id = %(video_id)s AND state IN ('new', 'waiting')"""
CANCEL_VIDEO = """
UPDATE videos SET state = 'cancelled', reason = 'video deleted', lease_owner = NULL,
       lease_until = 0, updated_at = %(now)s
WHERE video_id = %(video_id)s AND state != 'cancelled'"""
# A task may exist on Gcore (or be being created): the sweeper cancels it there. Taking the
# lease away makes a sweeper that is mid-call unable to record over it.
CANCEL_TRACKS_WITH_TASK = """
UPDATE tracks SET state = 'cancelling', reason = 'video deleted', lease_owner = NULL,
       lease_until = 0, next_run_at = %(now)s, updated_at = %(now)s
WHERE video_id = %(video_id)s AND state IN ('creating', 'task_started')"""
CANCEL_TRACKS_WITHOUT_TASK = """
UPDATE tracks SET state = 'cancelled', reason = 'video deleted', lease_owner = NULL,
       lease_until = 0, updated_at = %(now)s
WHERE video_id = %(video_id)s AND state IN ('planned', 'waiting')"""

CLAIM_VIDEOS = """
UPDATE videos SET lease_owner = %(owner)s, lease_until = %(until)s
WHERE video_id IN (
    SELECT video_id FROM videos
    WHERE state IN ('new', 'waiting') AND next_run_at <= %(now)s AND lease_until < %(now)s
    ORDER BY next_run_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING *"""
# Jobs that have (or are making) a task are always claimable; ``planned`` ones, which would
# start a new AI task, at most %(budget)s of them. Each half walks the tracks_due index.
CLAIM_TRACKS = """
WITH running AS (
    SELECT video_id, target, next_run_at FROM tracks
    WHERE state IN ('creating', 'task_started', 'cancelling')
      AND next_run_at <= %(now)s AND lease_until < %(now)s
    ORDER BY next_run_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), fresh AS (
    SELECT video_id, target, next_run_at FROM tracks
    WHERE state = 'planned' AND next_run_at <= %(now)s AND lease_until < %(now)s
    ORDER BY next_run_at LIMIT %(budget)s
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT video_id, target FROM (SELECT * FROM running UNION ALL SELECT * FROM fresh) due
    ORDER BY next_run_at LIMIT %(limit)s
)
UPDATE tracks SET lease_owner = %(owner)s, lease_until = %(until)s
FROM picked
WHERE tracks.video_id = picked.video_id AND tracks.target = picked.target
RETURNING tracks.*"""
CLAIM_LOCK = "SELECT pg_advisory_xact_lock(%(key)s)"
# Tasks in flight on the account, plus planned jobs someone is about to start one for.
BUSY = """
SELECT (SELECT count(*) FROM tracks WHERE state IN ('creating', 'task_started'))
     + (SELECT count(*) FROM tracks WHERE state = 'planned' AND lease_until >= %(now)s)
     AS busy"""
ACTIVE_TASKS = "SELECT count(*) AS n FROM tracks WHERE state IN ('creating', 'task_started')"
NEXT_DUE = """
SELECT least(
    (SELECT min(next_run_at) FROM videos WHERE state IN ('new', 'waiting')),
    (SELECT min(next_run_at) FROM tracks
     WHERE state IN ('planned', 'creating', 'task_started', 'cancelling'))) AS due"""
RELEASE_TRACK = """
UPDATE tracks SET lease_owner = NULL, lease_until = 0
WHERE video_id = %(video_id)s AND target = %(target)s AND lease_owner = %(owner)s"""
RELEASE_ALL_VIDEOS = (
    "UPDATE videos SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = %(owner)s"
)
RELEASE_ALL_TRACKS = (
    "UPDATE tracks SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = %(owner)s"
)

# {sets} is a list of "column = %(column)s" over whitelisted columns (VIDEO_/TRACK_COLUMNS).
UPDATE_VIDEO = """
UPDATE videos SET {sets}updated_at = %(now)s, lease_owner = NULL, lease_until = 0
WHERE video_id = %(video_id)s AND lease_owner = %(owner)s AND state != 'cancelled'"""
UPDATE_TRACK = """
UPDATE tracks SET {sets}updated_at = %(now)s, {lease}
WHERE video_id = %(video_id)s AND target = %(target)s AND lease_owner = %(owner)s{running}"""
EVENTS_SINCE = """
SELECT count(*) AS n FROM events WHERE video_id = %(video_id)s AND received_at > %(since)s"""
SET_VIDEO_DUE = "UPDATE videos SET next_run_at = %(due)s WHERE video_id = %(video_id)s"
SET_SOURCE_LANGUAGE = """
UPDATE videos SET source_language = %(language)s, updated_at = %(now)s
WHERE video_id = %(video_id)s"""
SETTLE_WAITING = """
UPDATE tracks SET state = %(state)s, reason = %(reason)s, next_run_at = %(now)s,
       updated_at = %(now)s
WHERE video_id = %(video_id)s AND target = %(target)s AND state = 'waiting'"""
INSERT_TRACK = """
INSERT INTO tracks (video_id, target, kind, state, language, reason, subtitle_id, task_id,
                    attempts, task_created_at, next_run_at, created_at, updated_at)
VALUES (%(video_id)s, %(target)s, %(kind)s, %(state)s, %(language)s, %(reason)s,
        %(subtitle_id)s, %(task_id)s, %(attempts)s, %(task_created_at)s, %(now)s, %(now)s,
        %(now)s)
ON CONFLICT DO NOTHING"""
RESTORE_VIDEO = """
INSERT INTO videos (video_id, profile, state, mp4_url, duration_s, source_language, existing,
                    next_run_at, created_at, updated_at)
VALUES (%(video_id)s, %(profile)s, 'planned', %(mp4_url)s, %(duration_s)s,
        %(source_language)s, %(existing)s, %(now)s, %(now)s, %(now)s)
ON CONFLICT (video_id) DO NOTHING"""

PING = "SELECT 1 FROM videos LIMIT 1"
GET_VIDEO = "SELECT * FROM videos WHERE video_id = %(video_id)s"
TRACKS_OF = """
SELECT * FROM tracks WHERE video_id = %(video_id)s ORDER BY target = '*' DESC, target COLLATE "C"
"""
VIDEOS = "SELECT * FROM videos ORDER BY created_at DESC, video_id DESC LIMIT %(limit)s"
COUNT_VIDEOS = "SELECT state, count(*) AS n FROM videos GROUP BY state"
COUNT_TRACKS = "SELECT state, count(*) AS n FROM tracks GROUP BY state"
COUNT_EVENTS = "SELECT count(*) AS n FROM events"

_Cursor = psycopg.AsyncCursor[DictRow]


class PostgresLedger(LedgerBase):
    """The ledger on PostgreSQL. Build it with ``await PostgresLedger.open(url)``."""

    def __init__(
        self, pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]], label: str
    ) -> None:
        self._pool = pool
        self.label = label

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> PostgresLedger:
        """Connect (failing within ``timeout`` if the server cannot be reached) and migrate."""
        label = redact_database_url(url)
        kwargs: dict[str, Any] = {
            "autocommit": True,  # reads are one statement; writes open a transaction
            "prepare_threshold": None,  # PgBouncer in transaction mode: nothing server-side
            "row_factory": dict_row,
        }
        if "connect_timeout" not in url:
            kwargs["connect_timeout"] = max(1, int(timeout))
        pool: AsyncConnectionPool[psycopg.AsyncConnection[DictRow]] = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            check=AsyncConnectionPool.check_connection,
            name="autosubs-ledger",
        )
        try:
            await pool.open(wait=True, timeout=timeout)
        except psycopg.Error as exc:
            await pool.close()
            raise LedgerError(f"cannot open the ledger at {label}: {exc}") from exc
        ledger = cls(pool, label)
        try:
            if migrate:
                await ledger.migrate()
            elif await ledger.schema_version() > SCHEMA_VERSION:
                raise newer_schema(await ledger.schema_version(), SCHEMA_VERSION)
        except BaseException:
            await pool.close()
            raise
        return ledger

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[_Cursor]:
        """One transaction; psycopg's errors leave as LedgerError, ours (LeaseLost) as they are."""
        try:
            async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise LedgerError(f"ledger write failed ({self.label}): {exc}") from exc

    async def _fetch(
        self, query: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> list[DictRow]:
        try:
            async with self._pool.connection(timeout) as conn, conn.cursor() as cur:
                await cur.execute(query, params)
                return await cur.fetchall()
        except psycopg.Error as exc:
            raise LedgerError(f"ledger read failed ({self.label}): {exc}") from exc

    async def aclose(self) -> None:
        await self._pool.close()

    async def ping(self) -> None:
        try:
            await self._fetch(PING, timeout=_PING_TIMEOUT)
        except LedgerError as exc:
            raise LedgerError(f"ledger unreachable: {exc}") from exc

    async def schema_version(self) -> int:
        [row] = await self._fetch(HAS_MIGRATIONS_TABLE)
        if not row["present"]:
            return 0
        [row] = await self._fetch(SCHEMA_VERSION_QUERY)
        return int(row["version"])

    async def migrate(self, *, target: int = SCHEMA_VERSION) -> int:
        """Apply pending migrations (up to ``target``) in one transaction; returns the version."""
        async with self._tx() as cur:
            await cur.execute(CLAIM_LOCK, {"key": _MIGRATE_LOCK})
            await cur.execute(CREATE_MIGRATIONS_TABLE)
            await cur.execute(SCHEMA_VERSION_QUERY)
            current = int((await cur.fetchone() or {"version": 0})["version"])
            if current > SCHEMA_VERSION:
                raise newer_schema(current, SCHEMA_VERSION)
            for version in range(current + 1, target + 1):
                for statement in MIGRATIONS[version - 1]:
                    await cur.execute(statement)
                await cur.execute(RECORD_MIGRATION, (version, time.time()))
            return max(current, target)

    # --- webhooks ------------------------------------------------------------------------------

    async def record_video_events(self, events: Sequence[VideoEvent]) -> list[bool]:
        """``record_video_event`` for each event in order, all in one transaction.

        Returns, per event, whether its video was new to the ledger. The events rows go in
        in order; the videos rows are then written in video id order (each video's events
        still in theirs), so that two replicas' batches that share videos lock them in the
        same order: one waits for the other, neither deadlocks.
        """
        clock = time.time()
        params = []
        for event in events:
            now = clock if event.now is None else event.now
            params.append({
                "video_id": event.video_id,
                "type": "video",
                "status": event.event_status,
                "token_fp": event.token_fp,
                "now": now,
                "due": now + event.due_in,
                "profile": Jsonb(event.profile.model_dump(mode="json")),
            })  # fmt: skip
        new = [False] * len(events)
        async with self._tx() as cur:
            await cur.executemany(INSERT_EVENT, params)
            for i in sorted(range(len(events)), key=lambda i: events[i].video_id):
                await cur.execute(INSERT_VIDEO, params[i])
                new[i] = cur.rowcount > 0
                if not new[i]:
                    await cur.execute(BRING_VIDEO_FORWARD, params[i])
        return new

    async def record_video_delete(
        self, video_id: int, *, token_fp: str, now: float | None = None
    ) -> int:
        """Cancel a deleted video's work; returns how many track jobs were stopped."""
        now = time.time() if now is None else now
        params = {
            "video_id": video_id,
            "type": "video_delete",
            "status": "deleted",
            "token_fp": token_fp,
            "now": now,
        }
        async with self._tx() as cur:
            await cur.execute(INSERT_EVENT, params)
            await cur.execute(CANCEL_VIDEO, params)
            await cur.execute(CANCEL_TRACKS_WITH_TASK, params)
            stopped = cur.rowcount
            await cur.execute(CANCEL_TRACKS_WITHOUT_TASK, params)
            return stopped + cur.rowcount

    # --- claims --------------------------------------------------------------------------------

    async def claim_videos(
        self, owner: str, *, limit: int, lease_seconds: float, now: float | None = None
    ) -> list[VideoJob]:
        now = time.time() if now is None else now
        params = {"owner": owner, "until": now + lease_seconds, "now": now, "limit": limit}
        async with self._tx() as cur:
            await cur.execute(CLAIM_VIDEOS, params)
            rows = await cur.fetchall()
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
        """Lease up to ``limit`` due track jobs, most overdue first (see SqliteLedger)."""
        now = time.time() if now is None else now
        params = {
            "owner": owner,
            "until": now + lease_seconds,
            "now": now,
            "limit": limit,
            "budget": limit,
        }
        async with self._tx() as cur:
            if max_active is not None:
                # Serialise capped claims across replicas: count and claim as one step.
                await cur.execute(CLAIM_LOCK, {"key": _CLAIM_LOCK})
                await cur.execute(BUSY, {"now": now})
                busy = int((await cur.fetchone() or {"busy": 0})["busy"])
                params["budget"] = max(0, min(limit, max_active - busy))
            await cur.execute(CLAIM_TRACKS, params)
            rows = await cur.fetchall()
        return by_due([TrackJob.from_row(row) for row in rows])

    async def next_due_at(self) -> float | None:
        [row] = await self._fetch(NEXT_DUE)
        due = row["due"]
        return None if due is None else float(due)

    async def release_track(self, job: TrackJob, owner: str) -> None:
        """Give a claimed job back untouched (shutdown)."""
        async with self._tx() as cur:
            await cur.execute(
                RELEASE_TRACK, {"video_id": job.video_id, "target": job.target, "owner": owner}
            )

    async def release_all(self, owner: str) -> int:
        """Give back every lease ``owner`` holds (graceful shutdown); returns how many."""
        async with self._tx() as cur:
            await cur.execute(RELEASE_ALL_VIDEOS, {"owner": owner})
            released = cur.rowcount
            await cur.execute(RELEASE_ALL_TRACKS, {"owner": owner})
            return released + cur.rowcount

    async def active_task_count(self) -> int:
        """Track jobs whose AI task is in flight (or being created) on the account."""
        [row] = await self._fetch(ACTIVE_TASKS)
        return int(row["n"])

    async def explain_claim(self) -> str:
        """The query plan (EXPLAIN text) of the track claim, as a sweeper pass runs it."""
        now = time.time()
        params = {"owner": "explain", "until": now, "now": now, "limit": 50, "budget": 50}
        rows = await self._fetch("EXPLAIN " + CLAIM_TRACKS, params)
        return "\n".join(str(row["QUERY PLAN"]) for row in rows)

    # --- results (lease-checked) ---------------------------------------------------------------

    async def update_video(
        self, video_id: int, owner: str, *, now: float | None = None, **fields: Any
    ) -> None:
        now = time.time() if now is None else now
        async with self._tx() as cur:
            await self._update_video(cur, video_id, owner, now, fields)

    async def defer_video(
        self, job: VideoJob, owner: str, *, delay: float, now: float | None = None, **fields: Any
    ) -> None:
        """Look at the video again after ``delay``, or at once if a webhook came in meanwhile."""
        now = time.time() if now is None else now
        async with self._tx() as cur:
            await self._update_video(cur, job.video_id, owner, now, fields)
            # A webhook recorded while we held the lease moved updated_at past what we saw.
            await cur.execute(EVENTS_SINCE, {"video_id": job.video_id, "since": job.updated_at})
            bumped = int((await cur.fetchone() or {"n": 0})["n"])
            due = now if bumped else now + delay
            await cur.execute(SET_VIDEO_DUE, {"due": due, "video_id": job.video_id})

    @staticmethod
    def _sets(fields: dict[str, Any]) -> tuple[sql.Composable, dict[str, Any]]:
        values = {k: Jsonb(v) if k in _JSON_COLUMNS and v is not None else v
                  for k, v in fields.items()}  # fmt: skip
        sets = sql.SQL("").join(
            sql.SQL("{} = {}, ").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
        )
        return sets, values

    async def _update_video(
        self, cur: _Cursor, video_id: int, owner: str, now: float, fields: dict[str, Any]
    ) -> None:
        check_columns(fields, VIDEO_COLUMNS, "video")
        sets, values = self._sets(fields)
        query = sql.SQL(UPDATE_VIDEO).format(sets=sets)
        await cur.execute(query, {**values, "now": now, "video_id": video_id, "owner": owner})
        if cur.rowcount != 1:
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
        async with self._tx() as cur:
            await self._update_video(
                cur, video_id, owner, now, {"state": "planned", **video_fields}
            )
            await cur.executemany(INSERT_TRACK, [track_params(video_id, t, now) for t in tracks])

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
        """Record a result for a claimed track job (see ``SqliteLedger.update_track``)."""
        now = time.time() if now is None else now
        async with self._tx() as cur:
            await self._update_track(
                cur, job.video_id, job.target, owner, now, fields, release, renew_for
            )

    async def _update_track(
        self,
        cur: _Cursor,
        video_id: int,
        target: str,
        owner: str,
        now: float,
        fields: dict[str, Any],
        release: bool = True,
        renew_for: float = 0.0,
    ) -> None:
        check_columns(fields, TRACK_COLUMNS, "track")
        sets, values = self._sets(fields)
        if release:
            lease, running = "lease_owner = NULL, lease_until = 0", ""
        else:  # an intent: only on a running lease, which it renews
            lease, running = "lease_until = %(renewed)s", " AND lease_until > %(now)s"
        query = sql.SQL(UPDATE_TRACK).format(
            sets=sets, lease=sql.SQL(lease), running=sql.SQL(running)
        )
        params = {**values, "now": now, "video_id": video_id, "target": target, "owner": owner,
                  "renewed": now + renew_for}  # fmt: skip
        await cur.execute(query, params)
        if cur.rowcount != 1:
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
        async with self._tx() as cur:
            await self._update_track(cur, job.video_id, job.target, owner, now, fields)
            if source_language:
                await cur.execute(
                    SET_SOURCE_LANGUAGE,
                    {"language": source_language, "now": now, "video_id": job.video_id},
                )
            for target, (state, reason) in translations.items():
                await cur.execute(
                    SETTLE_WAITING,
                    {"state": state, "reason": reason, "now": now, "video_id": job.video_id,
                     "target": target},
                )  # fmt: skip

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
        """Insert a planned video and its track jobs rebuilt from Gcore (see SqliteLedger)."""
        now = time.time() if now is None else now
        params = {
            "video_id": video_id,
            "profile": Jsonb(profile.model_dump(mode="json")),
            "mp4_url": mp4_url,
            "duration_s": duration_s,
            "source_language": source_language,
            "existing": Jsonb(list(existing)),
            "now": now,
        }
        async with self._tx() as cur:
            await cur.execute(RESTORE_VIDEO, params)
            if not cur.rowcount:
                return False
            await cur.executemany(INSERT_TRACK, [track_params(video_id, t, now) for t in tracks])
            return True

    # --- reads ---------------------------------------------------------------------------------

    async def get_video(self, video_id: int) -> VideoJob | None:
        rows = await self._fetch(GET_VIDEO, {"video_id": video_id})
        return VideoJob.from_row(rows[0]) if rows else None

    async def tracks_of(self, video_id: int) -> list[TrackJob]:
        rows = await self._fetch(TRACKS_OF, {"video_id": video_id})
        return [TrackJob.from_row(row) for row in rows]

    async def videos(self, limit: int = 1000) -> list[VideoJob]:
        rows = await self._fetch(VIDEOS, {"limit": limit})
        return [VideoJob.from_row(row) for row in rows]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Rows per state, for /metrics."""
        out: dict[str, dict[str, int]] = {}
        for table, query in (("videos", COUNT_VIDEOS), ("tracks", COUNT_TRACKS)):
            out[table] = {row["state"]: int(row["n"]) for row in await self._fetch(query)}
        return out

    async def event_count(self) -> int:
        [row] = await self._fetch(COUNT_EVENTS)
        return int(row["n"])
