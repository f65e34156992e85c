"""The ledger contract: every test runs against each backend, on real databases.

``sqlite`` is a file in ``tmp_path``; ``postgres`` a fresh database on the session's
throwaway cluster; ``pgbouncer`` the same through PgBouncer in transaction-pooling mode (as
Gcore's managed PostgreSQL runs it). Time is passed as ``now=``, never slept.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from handler import sqlite_db
from handler.errors import LedgerError
from handler.ledger import (
    SPOKEN,
    LeaseLost,
    Ledger,
    LedgerProtocol,
    NewTrack,
    RestoredTrack,
    TrackJob,
    VideoEvent,
    open_ledger,
)
from handler.tokens import Profile

T0 = 1_700_000_000.0
LEASE = 300.0
PROFILE = Profile(languages=("fre", "ger"), audio_language="eng")
AUTO = Profile(languages=("fre", "ger"))
FIXED_PLAN = [
    NewTrack(target=SPOKEN, kind="transcription", state="planned", language="eng"),
    NewTrack(target="fre", kind="translation", state="planned", language="fre"),
    NewTrack(target="ger", kind="translation", state="skipped", language="ger", reason="exists"),
]
AUTO_PLAN = [
    NewTrack(target=SPOKEN, kind="transcription", state="planned"),
    NewTrack(target="fre", kind="translation", state="waiting", language="fre"),
    NewTrack(target="ger", kind="translation", state="waiting", language="ger"),
]


@dataclass
class Store:
    """Where a ledger lives: opens ledgers on it, and runs raw SQL for a test's setup."""

    kind: str
    url: str
    sibling: Callable[[], Store]  # another, empty store of the same kind

    async def open(self, **kwargs: Any) -> LedgerProtocol:
        return await open_ledger(self.url, **kwargs)

    def execute(self, statement: str) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as raw:
                rows = raw.execute(statement).fetchall()
            raw.close()
            return rows
        with psycopg.connect(self.url, autocommit=True, prepare_threshold=None) as conn:
            cursor = conn.execute(statement)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def schema(self) -> list[tuple[Any, ...]]:
        """Tables, columns and indexes, to compare two ways of building the schema."""
        if self.kind == "sqlite":
            return self.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            )
        return self.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name != 'schema_migrations' ORDER BY table_name, column_name"
        ) + self.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE schemaname = 'public' ORDER BY indexname"
        )


@pytest.fixture(params=["sqlite", "postgres", "pgbouncer"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    kind: str = request.param
    made = itertools.count()
    if kind == "sqlite":

        def sqlite_store() -> Store:
            return Store(kind, f"sqlite:///{tmp_path / f'ledger{next(made)}.db'}", sqlite_store)

        return sqlite_store()
    cluster = request.getfixturevalue("pg_cluster")
    bouncer = request.getfixturevalue("pg_bouncer") if kind == "pgbouncer" else None

    def pg_store() -> Store:
        name = cluster.create_database()
        request.addfinalizer(lambda: cluster.drop_database(name))
        return Store(kind, bouncer.url(name) if bouncer else cluster.url(name), pg_store)

    return pg_store()


@pytest.fixture
async def ledger(store: Store) -> AsyncIterator[LedgerProtocol]:
    db = await store.open()
    yield db
    await db.aclose()


async def _new_video(ledger: LedgerProtocol, video_id: int = 1, profile: Profile = PROFILE) -> None:
    await ledger.record_video_event(
        video_id, profile, event_status="ready", due_in=0.0, token_fp="fp", now=T0
    )


async def _planned(
    ledger: LedgerProtocol, plan: list[NewTrack], video_id: int = 1, profile: Profile = PROFILE
) -> None:
    await _new_video(ledger, video_id, profile)
    [video] = await ledger.claim_videos("A", limit=10, lease_seconds=LEASE, now=T0)
    await ledger.plan_video(video.video_id, "A", plan, now=T0, mp4_url="https://cdn.test/a.mp4")


def _states(tracks: list[TrackJob]) -> dict[str, str]:
    return {t.target: t.state for t in tracks}


# --- webhooks ------------------------------------------------------------------------------


async def test_record_video_event_new_then_duplicates(ledger: LedgerProtocol) -> None:
    """20 deliveries of one video make one video row and 20 event rows."""
    results = [
        await ledger.record_video_event(
            42, PROFILE, event_status="ready", due_in=0.0, token_fp="fp", now=T0 + i
        )
        for i in range(20)
    ]
    assert results == [True] + [False] * 19
    videos = await ledger.videos()
    assert [v.video_id for v in videos] == [42]
    assert videos[0].state == "new"
    assert videos[0].profile == PROFILE
    assert await ledger.event_count() == 20
    assert await ledger.counts() == {"videos": {"new": 1}, "tracks": {}}


async def test_duplicate_keeps_the_first_profile(ledger: LedgerProtocol) -> None:
    """A second event for a known video never changes what was asked for."""
    await _new_video(ledger, 1, PROFILE)
    await ledger.record_video_event(
        1, Profile(languages=("spa",)), event_status="ready", due_in=0.0, token_fp="x", now=T0
    )
    video = await ledger.get_video(1)
    assert video is not None
    assert video.profile == PROFILE


async def test_due_in_brings_a_waiting_video_forward(ledger: LedgerProtocol) -> None:
    """A later, more hopeful event moves the check earlier; a less hopeful one never later."""
    await ledger.record_video_event(
        5, PROFILE, event_status="pending", due_in=60.0, token_fp="fp", now=T0
    )
    video = await ledger.get_video(5)
    assert video is not None
    assert video.next_run_at == T0 + 60
    assert await ledger.claim_videos("A", limit=10, lease_seconds=LEASE, now=T0 + 10) == []

    await ledger.record_video_event(
        5, PROFILE, event_status="viewable", due_in=0.0, token_fp="fp", now=T0 + 10
    )
    video = await ledger.get_video(5)
    assert video is not None
    assert (video.next_run_at, video.event_status) == (T0 + 10, "viewable")

    await ledger.record_video_event(
        5, PROFILE, event_status="pending", due_in=60.0, token_fp="fp", now=T0 + 11
    )
    video = await ledger.get_video(5)
    assert video is not None
    assert video.next_run_at == T0 + 10
    claimed = await ledger.claim_videos("A", limit=10, lease_seconds=LEASE, now=T0 + 11)
    assert [v.video_id for v in claimed] == [5]


async def test_waiting_state_is_brought_forward_too(ledger: LedgerProtocol) -> None:
    """A video the sweeper put back to wait is rechecked as soon as an event arrives."""
    await _new_video(ledger, 3)
    await ledger.claim_videos("A", limit=10, lease_seconds=LEASE, now=T0)
    await ledger.update_video(3, "A", state="waiting", next_run_at=T0 + 3600, now=T0)
    await ledger.record_video_event(
        3, PROFILE, event_status="ready", due_in=0.0, token_fp="fp", now=T0 + 5
    )
    claimed = await ledger.claim_videos("B", limit=10, lease_seconds=LEASE, now=T0 + 5)
    assert [(v.video_id, v.state) for v in claimed] == [(3, "waiting")]


async def test_events_do_not_reopen_a_planned_video(ledger: LedgerProtocol) -> None:
    """Once planned, a replayed webhook changes nothing and starts nothing."""
    await _planned(ledger, FIXED_PLAN)
    new = await ledger.record_video_event(
        1, PROFILE, event_status="ready", due_in=0.0, token_fp="fp", now=T0 + 1
    )
    assert new is False
    assert await ledger.claim_videos("A", limit=10, lease_seconds=LEASE, now=T0 + 1) == []
    video = await ledger.get_video(1)
    assert video is not None
    assert video.state == "planned"


def _mixed_events() -> list[VideoEvent]:
    """New videos, a repeat inside the batch (another profile, more hopeful, then less),
    and a replay for a video that is planned already."""
    return [
        VideoEvent(10, PROFILE, "pending", 60.0, "fp", now=T0),
        VideoEvent(11, AUTO, "ready", 0.0, "fp", now=T0),
        VideoEvent(10, Profile(languages=("spa",)), "viewable", 5.0, "fp2", now=T0 + 1),
        VideoEvent(1, PROFILE, "ready", 0.0, "fp", now=T0 + 2),
        VideoEvent(10, PROFILE, "pending", 60.0, "fp", now=T0 + 3),
    ]


async def test_record_video_events_is_each_event_in_order(
    ledger: LedgerProtocol, store: Store
) -> None:
    """A batch answers and records exactly what one record_video_event per event would."""
    await _planned(ledger, FIXED_PLAN)
    one_by_one = await store.sibling().open()
    try:
        await _planned(one_by_one, FIXED_PLAN)
        batched = await ledger.record_video_events(_mixed_events())
        singles = [
            await one_by_one.record_video_event(
                e.video_id, e.profile, event_status=e.event_status, due_in=e.due_in,
                token_fp=e.token_fp, now=e.now,
            )
            for e in _mixed_events()
        ]  # fmt: skip
        assert batched == singles == [True, True, False, False, False]
        assert await ledger.videos() == await one_by_one.videos()
        assert await ledger.event_count() == await one_by_one.event_count() == 6
    finally:
        await one_by_one.aclose()
    video = await ledger.get_video(10)
    assert video is not None
    assert (video.profile, video.state, video.event_status) == (PROFILE, "new", "pending")
    assert video.next_run_at == T0 + 6  # the most hopeful of the three events
    planned = await ledger.get_video(1)
    assert planned is not None
    assert planned.state == "planned"


async def test_a_large_batch_with_repeats_matches_one_by_one(
    ledger: LedgerProtocol, store: Store
) -> None:
    """200 events (several multi-row statements on SQLite), repeats far apart in the batch
    and across statement boundaries: same answers and rows as one event at a time."""
    await _planned(ledger, FIXED_PLAN)  # video 1: planned, so its repeats change nothing
    events = [
        VideoEvent(1 + (n * 7) % 150, PROFILE, ("pending", "ready")[n % 2], float(n % 5), "fp",
                   now=T0 + n)
        for n in range(200)
    ]  # fmt: skip
    one_by_one = await store.sibling().open()
    try:
        await _planned(one_by_one, FIXED_PLAN)
        batched = await ledger.record_video_events(events)
        singles = [
            await one_by_one.record_video_event(
                e.video_id, e.profile, event_status=e.event_status, due_in=e.due_in,
                token_fp=e.token_fp, now=e.now,
            )
            for e in events
        ]  # fmt: skip
        assert batched == singles
        assert sum(batched) == 149  # 150 distinct ids, video 1 already known
        assert await ledger.videos() == await one_by_one.videos()
        assert await ledger.event_count() == await one_by_one.event_count() == 201
    finally:
        await one_by_one.aclose()


async def test_record_video_events_without_now_share_the_clock(ledger: LedgerProtocol) -> None:
    """Events without ``now`` are stamped with the time of their transaction."""
    events = [VideoEvent(video_id, PROFILE, "ready", 0.0, "fp") for video_id in (1, 2, 3)]
    assert await ledger.record_video_events(events) == [True, True, True]
    assert len({v.created_at for v in await ledger.videos()}) == 1
    assert await ledger.record_video_events([]) == []
    assert await ledger.event_count() == 3


async def test_a_failed_batch_records_none_of_its_events(ledger: LedgerProtocol) -> None:
    """An event the database cannot store fails the whole batch: none of it is kept."""
    events = [
        VideoEvent(20, PROFILE, "ready", 0.0, "fp", now=T0),
        VideoEvent(2**63, PROFILE, "ready", 0.0, "fp", now=T0),  # beyond a 64-bit integer
    ]
    with pytest.raises(LedgerError):
        await ledger.record_video_events(events)
    assert await ledger.videos() == []
    assert await ledger.event_count() == 0
    assert await ledger.record_video_events(events[:1]) == [True]


async def test_batches_sharing_videos_do_not_deadlock(store: Store) -> None:
    """Two replicas record the same new videos at once, in opposite orders: both batches
    commit, and each video is new to exactly one of them."""
    first, second = await store.open(), await store.open()
    try:
        ids = list(range(1, 9))
        forward, backward = await asyncio.gather(
            first.record_video_events([VideoEvent(i, PROFILE, "ready", 0.0, "a") for i in ids]),
            second.record_video_events(
                [VideoEvent(i, PROFILE, "ready", 0.0, "b") for i in reversed(ids)]
            ),
        )
        assert [f + b for f, b in zip(forward, reversed(backward), strict=True)] == [1] * 8
        assert await first.event_count() == 16
        assert len(await second.videos()) == 8
    finally:
        await first.aclose()
        await second.aclose()


# --- claims and leases ---------------------------------------------------------------------


async def test_video_lease_blocks_a_second_owner_until_expiry(ledger: LedgerProtocol) -> None:
    """A leased video is invisible to other sweepers until the lease runs out."""
    await _new_video(ledger, 1)
    assert [
        v.video_id for v in await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0)
    ] == [1]
    assert await ledger.claim_videos("B", limit=5, lease_seconds=LEASE, now=T0 + 1) == []
    assert await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0 + LEASE - 1) == []
    taken = await ledger.claim_videos("B", limit=5, lease_seconds=LEASE, now=T0 + LEASE + 1)
    assert [v.video_id for v in taken] == [1]


async def test_claim_respects_limit_and_due_order(ledger: LedgerProtocol) -> None:
    """Claims take the most overdue jobs first, at most ``limit``."""
    for video_id, due in ((1, 30.0), (2, 10.0), (3, 20.0), (4, 500.0)):
        await ledger.record_video_event(
            video_id, PROFILE, event_status="pending", due_in=due, token_fp="fp", now=T0
        )
    first = await ledger.claim_videos("A", limit=2, lease_seconds=LEASE, now=T0 + 100)
    assert [v.video_id for v in first] == [2, 3]
    rest = await ledger.claim_videos("B", limit=10, lease_seconds=LEASE, now=T0 + 100)
    assert [v.video_id for v in rest] == [1]


async def test_track_lease_blocks_a_second_owner_until_expiry(ledger: LedgerProtocol) -> None:
    """A leased track job is worked by one sweeper only; an expired lease passes it on."""
    await _planned(ledger, FIXED_PLAN)
    mine = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    assert sorted(t.target for t in mine) == [SPOKEN, "fre"]  # skipped ones are never due
    assert await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + 100) == []
    theirs = await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + LEASE + 1)
    assert sorted(t.target for t in theirs) == [SPOKEN, "fre"]


async def test_lost_lease_cannot_record(ledger: LedgerProtocol) -> None:
    """A sweeper whose lease expired and was taken over cannot overwrite the newer result."""
    await _planned(ledger, FIXED_PLAN)
    [job] = [
        t
        for t in await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
        if t.target == "fre"
    ]
    later = T0 + LEASE + 1
    [taken] = [
        t
        for t in await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=later)
        if t.target == "fre"
    ]
    await ledger.update_track(taken, "B", state="task_started", task_id="t-b", now=later)
    with pytest.raises(LeaseLost):
        await ledger.update_track(job, "A", state="task_started", task_id="t-a", now=later + 1)
    [fre] = [t for t in await ledger.tracks_of(1) if t.target == "fre"]
    assert (fre.state, fre.task_id) == ("task_started", "t-b")


async def test_update_video_with_lost_lease_raises(ledger: LedgerProtocol) -> None:
    """A video result from a sweeper that no longer holds the lease is refused."""
    await _new_video(ledger, 1)
    await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0)
    await ledger.claim_videos("B", limit=5, lease_seconds=LEASE, now=T0 + LEASE + 1)
    with pytest.raises(LeaseLost):
        await ledger.update_video(1, "A", state="waiting", now=T0 + LEASE + 2)
    await ledger.update_video(1, "B", state="waiting", next_run_at=T0 + 999, now=T0 + LEASE + 2)
    video = await ledger.get_video(1)
    assert video is not None
    assert (video.state, video.next_run_at) == ("waiting", T0 + 999)


async def test_update_releases_the_lease(ledger: LedgerProtocol) -> None:
    """Recording a result hands the job back: it can be claimed again when due."""
    await _planned(ledger, FIXED_PLAN)
    [job, *_] = await ledger.claim_tracks("A", limit=1, lease_seconds=LEASE, now=T0)
    await ledger.update_track(job, "A", progress=40, polls=1, next_run_at=T0 + 30, now=T0)
    again = await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + 30)
    assert job.target in [t.target for t in again]


async def test_update_track_can_keep_the_lease(ledger: LedgerProtocol) -> None:
    """release=False records progress and keeps the job ours."""
    await _planned(ledger, FIXED_PLAN)
    [job, *_] = await ledger.claim_tracks("A", limit=1, lease_seconds=LEASE, now=T0)
    await ledger.update_track(job, "A", state="creating", release=False, now=T0)
    await ledger.update_track(job, "A", state="task_started", task_id="t1", now=T0 + 1)
    [row] = [t for t in await ledger.tracks_of(1) if t.target == job.target]
    assert (row.state, row.task_id) == ("task_started", "t1")


async def test_update_rejects_unknown_columns(ledger: LedgerProtocol) -> None:
    """Only the known result columns can be written."""
    await _planned(ledger, FIXED_PLAN)
    [job, *_] = await ledger.claim_tracks("A", limit=1, lease_seconds=LEASE, now=T0)
    with pytest.raises(ValueError, match="lease_owner"):
        await ledger.update_track(job, "A", lease_owner="B", now=T0)
    with pytest.raises(ValueError, match="profile"):
        await ledger.update_video(1, "A", profile="{}", now=T0)


# --- planning ------------------------------------------------------------------------------


async def test_plan_video_stores_tracks_and_video_fields(ledger: LedgerProtocol) -> None:
    """Planning marks the video planned and stores one job per target."""
    await _planned(ledger, FIXED_PLAN)
    video = await ledger.get_video(1)
    assert video is not None
    assert (video.state, video.mp4_url) == ("planned", "https://cdn.test/a.mp4")
    tracks = await ledger.tracks_of(1)
    assert [t.target for t in tracks] == [SPOKEN, "fre", "ger"]
    assert _states(tracks) == {SPOKEN: "planned", "fre": "planned", "ger": "skipped"}
    assert [t.reason for t in tracks] == [None, None, "exists"]


async def test_plan_video_is_idempotent(ledger: LedgerProtocol, store: Store) -> None:
    """Planning again (or a plan naming a target twice) never duplicates or overwrites a job."""
    await _new_video(ledger, 1)
    await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0)
    doubled = [*FIXED_PLAN, NewTrack(target="fre", kind="translation", state="skipped")]
    await ledger.plan_video(1, "A", doubled, now=T0)
    [job] = [
        t
        for t in await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
        if t.target == "fre"
    ]
    await ledger.update_track(job, "A", state="task_started", task_id="t1", now=T0)

    # Put the video back as if it had never been planned, then plan it again.
    store.execute(f"UPDATE videos SET state = 'waiting', next_run_at = {T0}")
    await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0 + 1)
    replan = [NewTrack(target=t.target, kind=t.kind, state="planned") for t in FIXED_PLAN]
    await ledger.plan_video(1, "A", replan, now=T0 + 1)

    tracks = await ledger.tracks_of(1)
    assert [t.target for t in tracks] == [SPOKEN, "fre", "ger"]
    assert _states(tracks) == {SPOKEN: "planned", "fre": "task_started", "ger": "skipped"}


async def test_plan_video_without_lease_stores_nothing(ledger: LedgerProtocol) -> None:
    """A plan from a sweeper that does not hold the video is refused as a whole."""
    await _new_video(ledger, 1)
    await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0)
    with pytest.raises(LeaseLost):
        await ledger.plan_video(1, "B", FIXED_PLAN, now=T0)
    assert await ledger.tracks_of(1) == []
    video = await ledger.get_video(1)
    assert video is not None
    assert video.state == "new"


async def test_finish_source_settles_waiting_translations(ledger: LedgerProtocol) -> None:
    """The transcription's result releases or settles the translations that waited for it."""
    await _planned(ledger, AUTO_PLAN, profile=AUTO)
    claimed = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    assert [t.target for t in claimed] == [SPOKEN]  # waiting jobs are not due
    await ledger.finish_source(
        claimed[0],
        "A",
        translations={"fre": ("planned", None), "ger": ("skipped", "exists")},
        source_language="eng",
        now=T0 + 50,
        state="attached",
        language="eng",
        subtitle_id=77,
    )
    tracks = {t.target: t for t in await ledger.tracks_of(1)}
    assert (tracks[SPOKEN].state, tracks[SPOKEN].subtitle_id) == ("attached", 77)
    assert (tracks["fre"].state, tracks["fre"].next_run_at) == ("planned", T0 + 50)
    assert (tracks["ger"].state, tracks["ger"].reason) == ("skipped", "exists")
    video = await ledger.get_video(1)
    assert video is not None
    assert video.source_language == "eng"
    next_up = await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + 50)
    assert [t.target for t in next_up] == ["fre"]


async def test_finish_source_with_lost_lease_settles_nothing(ledger: LedgerProtocol) -> None:
    """If the transcription's lease is gone, the translations stay waiting."""
    await _planned(ledger, AUTO_PLAN, profile=AUTO)
    [job] = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + LEASE + 1)
    with pytest.raises(LeaseLost):
        await ledger.finish_source(
            job, "A", translations={"fre": ("planned", None)}, now=T0 + LEASE + 2, state="failed"
        )
    assert _states(await ledger.tracks_of(1)) == {
        SPOKEN: "planned",
        "fre": "waiting",
        "ger": "waiting",
    }


# --- deletes -------------------------------------------------------------------------------


async def test_record_video_delete_cancels_and_takes_the_lease(ledger: LedgerProtocol) -> None:
    """A deleted video's running tasks go to cancelling, the rest to cancelled, leases revoked."""
    await _planned(ledger, AUTO_PLAN, profile=AUTO)
    [job] = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    await ledger.update_track(job, "A", state="task_started", task_id="t1", release=False, now=T0)

    stopped = await ledger.record_video_delete(1, token_fp="fp", now=T0 + 5)
    assert stopped == 3
    tracks = await ledger.tracks_of(1)
    assert _states(tracks) == {SPOKEN: "cancelling", "fre": "cancelled", "ger": "cancelled"}
    assert {t.reason for t in tracks} == {"video deleted"}
    video = await ledger.get_video(1)
    assert video is not None
    assert video.state == "cancelled"

    with pytest.raises(LeaseLost):  # the sweeper mid-call can no longer record over it
        await ledger.update_track(job, "A", state="attached", subtitle_id=9, now=T0 + 6)
    [cancel] = await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + 5)
    assert (cancel.target, cancel.state, cancel.task_id) == (SPOKEN, "cancelling", "t1")
    assert await ledger.event_count() == 2


async def test_delete_of_a_leased_video_refuses_its_update(ledger: LedgerProtocol) -> None:
    """A video deleted while a sweeper looks at it cannot be planned afterwards."""
    await _new_video(ledger, 1)
    await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0)
    assert await ledger.record_video_delete(1, token_fp="fp", now=T0 + 1) == 0
    with pytest.raises(LeaseLost):
        await ledger.plan_video(1, "A", FIXED_PLAN, now=T0 + 2)
    with pytest.raises(LeaseLost):
        await ledger.update_video(1, "A", state="waiting", now=T0 + 2)
    assert await ledger.tracks_of(1) == []
    # a replayed upload webhook does not bring it back
    await ledger.record_video_event(
        1, PROFILE, event_status="ready", due_in=0.0, token_fp="fp", now=T0 + 3
    )
    assert await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0 + 3) == []


async def test_delete_leaves_finished_tracks_alone(ledger: LedgerProtocol) -> None:
    """Attached and skipped tracks keep their state when the video is deleted."""
    await _planned(ledger, FIXED_PLAN)
    [job] = [
        t
        for t in await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
        if t.target == SPOKEN
    ]
    await ledger.update_track(job, "A", state="attached", subtitle_id=5, now=T0)
    assert await ledger.record_video_delete(1, token_fp="fp", now=T0 + 1) == 1
    assert _states(await ledger.tracks_of(1)) == {
        SPOKEN: "attached",
        "fre": "cancelled",
        "ger": "skipped",
    }


# --- the task cap, release, recovery ------------------------------------------------------


async def _tracks_in(store: Store, ledger: LedgerProtocol, states: dict[str, int]) -> None:
    """Videos 100.. with one due track each, in the given states (setup through raw SQL)."""
    video_id = 100
    for state, n in states.items():
        for _ in range(n):
            await _new_video(ledger, video_id)
            store.execute(
                "INSERT INTO tracks (video_id, target, kind, state, next_run_at, created_at, "
                f"updated_at) VALUES ({video_id}, 'fre', 'translation', '{state}', {T0}, {T0}, "
                f"{T0})"
            )
            video_id += 1


async def test_max_active_caps_planned_claims(ledger: LedgerProtocol, store: Store) -> None:
    """Planned jobs are claimed only while tasks in flight plus leased planned jobs < cap."""
    await _tracks_in(store, ledger, {"task_started": 2, "planned": 6})
    claim: dict[str, Any] = {"limit": 10, "lease_seconds": LEASE, "now": T0, "max_active": 5}
    first = await ledger.claim_tracks("A", **claim)
    assert sorted(t.state for t in first) == ["planned"] * 3 + ["task_started"] * 2
    assert await ledger.active_task_count() == 2
    # A's three planned jobs are leased: they count, so B gets none.
    assert await ledger.claim_tracks("B", **claim) == []
    planned = [t for t in first if t.state == "planned"]
    await ledger.update_track(planned[0], "A", state="task_started", task_id="t", now=T0)
    await ledger.update_track(planned[1], "A", state="failed", reason="x", now=T0)
    assert await ledger.active_task_count() == 3
    # 3 tasks + 1 leased planned job: room for one more (and the new task is due too).
    more = await ledger.claim_tracks("B", **claim)
    assert sorted(t.state for t in more) == ["planned", "task_started"]
    assert await ledger.claim_tracks("C", **claim) == []


async def test_max_active_never_holds_back_running_jobs(
    ledger: LedgerProtocol, store: Store
) -> None:
    """Over the cap, jobs with a task (or a cancel to do) are still claimed; planned are not."""
    await _tracks_in(store, ledger, {"task_started": 3, "cancelling": 1, "creating": 1})
    await _tracks_in_more(store, ledger)
    claimed = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0, max_active=2)
    assert sorted(t.state for t in claimed) == ["cancelling", "creating"] + ["task_started"] * 3
    unlimited = await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0)
    assert [t.state for t in unlimited] == ["planned"]


async def _tracks_in_more(store: Store, ledger: LedgerProtocol) -> None:
    await _new_video(ledger, 999)
    store.execute(
        "INSERT INTO tracks (video_id, target, kind, state, next_run_at, created_at, updated_at) "
        f"VALUES (999, 'fre', 'translation', 'planned', {T0}, {T0}, {T0})"
    )


async def test_max_active_respects_limit(ledger: LedgerProtocol, store: Store) -> None:
    """The cap never lets a claim take more than ``limit`` jobs."""
    await _tracks_in(store, ledger, {"planned": 5})
    claimed = await ledger.claim_tracks("A", limit=2, lease_seconds=LEASE, now=T0, max_active=50)
    assert len(claimed) == 2


async def test_release_all_gives_every_lease_back(ledger: LedgerProtocol) -> None:
    """release_all frees the owner's videos and tracks, and nobody else's."""
    await _planned(ledger, FIXED_PLAN, video_id=1)
    await _new_video(ledger, 2)
    await _new_video(ledger, 3)
    await ledger.claim_videos("A", limit=1, lease_seconds=LEASE, now=T0)  # video 2
    await ledger.claim_videos("B", limit=1, lease_seconds=LEASE, now=T0)  # video 3
    tracks = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    await ledger.update_track(tracks[0], "A", state="creating", release=False, now=T0)
    assert await ledger.release_all("A") == 3  # video 2 and two tracks
    assert await ledger.release_all("A") == 0
    taken = await ledger.claim_tracks("C", limit=10, lease_seconds=LEASE, now=T0 + 1)
    assert sorted(t.state for t in taken) == ["creating", "planned"]
    videos = await ledger.claim_videos("C", limit=10, lease_seconds=LEASE, now=T0 + 1)
    assert [v.video_id for v in videos] == [2]  # video 3 is still B's
    with pytest.raises(LeaseLost):
        await ledger.update_track(tracks[0], "A", state="task_started", now=T0 + 2)


async def test_restore_video_inserts_only_unknown_videos(ledger: LedgerProtocol) -> None:
    """A video rebuilt from Gcore arrives planned with its tracks due now; a known one is kept."""
    restored = [
        RestoredTrack(target=SPOKEN, kind="transcription", state="attached", language="eng",
                      task_id="t-0", subtitle_id=11, attempts=1, task_created_at=T0 - 60),
        RestoredTrack(target="fre", kind="translation", state="task_started", language="fre",
                      task_id="t-1", attempts=2, task_created_at=T0 - 30),
        RestoredTrack(target="ger", kind="translation", state="skipped", language="ger",
                      reason="exists"),
    ]  # fmt: skip
    existing = [{"language": "ger", "id": 5, "ours": False}]
    args: dict[str, Any] = {
        "mp4_url": "https://cdn.test/v.mp4",
        "duration_s": 61.5,
        "source_language": "eng",
        "existing": existing,
        "tracks": restored,
    }
    assert await ledger.restore_video(7, PROFILE, now=T0, **args) is True
    video = await ledger.get_video(7)
    assert video is not None
    assert (video.state, video.mp4_url, video.duration_s) == ("planned", args["mp4_url"], 61.5)
    assert (video.source_language, video.existing, video.profile) == (
        "eng",
        (existing[0],),
        PROFILE,
    )
    tracks = {t.target: t for t in await ledger.tracks_of(7)}
    assert _states(list(tracks.values())) == {SPOKEN: "attached", "fre": "task_started",
                                              "ger": "skipped"}  # fmt: skip
    fre = tracks["fre"]
    assert (fre.task_id, fre.attempts, fre.task_created_at, fre.next_run_at) == (
        "t-1",
        2,
        T0 - 30,
        T0,
    )
    assert (tracks[SPOKEN].subtitle_id, tracks["ger"].reason) == (11, "exists")
    [due] = await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    assert due.target == "fre"
    assert await ledger.active_task_count() == 1

    await _new_video(ledger, 8)
    assert await ledger.restore_video(8, AUTO, now=T0, **args) is False
    assert await ledger.restore_video(7, AUTO, now=T0, **{**args, "tracks": []}) is False
    assert await ledger.tracks_of(8) == []
    known = await ledger.get_video(8)
    assert known is not None
    assert (known.state, known.profile) == ("new", PROFILE)


async def test_explain_claim_uses_the_due_index(ledger: LedgerProtocol) -> None:
    """The track claim's plan names the partial index of due jobs."""
    assert "tracks_due" in await ledger.explain_claim()


# --- reads, restart, schema ----------------------------------------------------------------


async def test_restart_keeps_every_row(store: Store) -> None:
    """Closing and reopening the ledger (a restart) loses nothing."""
    first = await store.open()
    await _planned(first, FIXED_PLAN)
    [job, *_] = await first.claim_tracks("A", limit=1, lease_seconds=LEASE, now=T0)
    await first.update_track(job, "A", state="task_started", task_id="t1", qc={"cues": 3}, now=T0)
    before_video, before_tracks = await first.get_video(1), await first.tracks_of(1)
    await first.aclose()

    second = await store.open()
    try:
        assert await second.get_video(1) == before_video
        assert await second.tracks_of(1) == before_tracks
        assert await second.event_count() == 1
        assert [t.qc for t in before_tracks if t.target == job.target] == [{"cues": 3}]
    finally:
        await second.aclose()


async def test_next_due_at(ledger: LedgerProtocol) -> None:
    """next_due_at is the earliest due video or track, None when nothing is due."""
    assert await ledger.next_due_at() is None
    await ledger.record_video_event(
        1, PROFILE, event_status="pending", due_in=60.0, token_fp="fp", now=T0
    )
    assert await ledger.next_due_at() == T0 + 60
    await _planned(ledger, FIXED_PLAN, video_id=2)
    assert await ledger.next_due_at() == T0
    for job in await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0):
        await ledger.update_track(job, "A", state="attached", subtitle_id=1, now=T0)
    assert await ledger.next_due_at() == T0 + 60


async def test_counts(ledger: LedgerProtocol) -> None:
    """counts() tallies rows per state for /metrics."""
    assert await ledger.counts() == {"videos": {}, "tracks": {}}
    await _planned(ledger, FIXED_PLAN, video_id=1)
    await _new_video(ledger, 2)
    assert await ledger.counts() == {
        "videos": {"planned": 1, "new": 1},
        "tracks": {"planned": 2, "skipped": 1},
    }


async def test_ping(store: Store) -> None:
    """An open ledger answers ping; a closed one raises LedgerError."""
    ledger = await store.open()
    await ledger.ping()
    await ledger.aclose()
    with pytest.raises(LedgerError):
        await ledger.ping()


# --- migrations ----------------------------------------------------------------------------


async def test_opening_applies_every_migration(ledger: LedgerProtocol) -> None:
    """A new ledger is at the latest schema version; migrating again changes nothing."""
    version = await ledger.schema_version()
    assert version >= 2
    assert await ledger.migrate() == version


async def test_upgrade_keeps_rows_and_matches_a_fresh_schema(store: Store) -> None:
    """A version-1 ledger with rows upgrades in place: rows kept, schema as if built fresh."""
    old = await store.open(migrate=False)
    assert await old.schema_version() == 0
    assert await old.migrate(target=1) == 1
    await _planned(old, AUTO_PLAN, profile=AUTO)
    [job] = await old.claim_tracks("A", limit=5, lease_seconds=LEASE, now=T0)
    await old.update_track(job, "A", state="task_started", task_id="t1", qc={"n": 1}, now=T0)
    await _new_video(old, 2)
    before = (await old.videos(), await old.tracks_of(1), await old.counts())
    await old.aclose()

    upgraded = await store.open()
    try:
        assert await upgraded.schema_version() >= 2
        after = (await upgraded.videos(), await upgraded.tracks_of(1), await upgraded.counts())
        assert after == before
        assert await upgraded.event_count() == 2
        await upgraded.claim_videos("B", limit=5, lease_seconds=LEASE, now=T0 + 1)
        assert await upgraded.release_all("B") == 1
    finally:
        await upgraded.aclose()

    fresh = store.sibling()  # built in one go
    await (await fresh.open()).aclose()
    assert store.schema() == fresh.schema()


async def test_newer_schema_refuses_to_open(store: Store) -> None:
    """A ledger written by a newer autosubs is not touched."""
    await (await store.open()).aclose()
    if store.kind == "sqlite":
        store.execute("PRAGMA user_version = 99")
    else:
        store.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)")
    with pytest.raises(LedgerError, match="99"):
        await store.open()
    with pytest.raises(LedgerError, match="99"):
        await store.open(migrate=False)


def test_not_a_database_is_a_ledger_error(tmp_path: Path) -> None:
    """A file that is not SQLite gives LedgerError naming the path."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just some text " * 200)
    with pytest.raises(LedgerError, match=r"junk\.db"):
        Ledger(str(junk))


def test_creates_the_parent_directory(tmp_path: Path) -> None:
    """The ledger file's directory is created on first use."""
    path = tmp_path / "a" / "b" / "ledger.db"
    Ledger(str(path)).close()
    assert path.exists()


async def test_unknown_url_scheme_is_a_ledger_error() -> None:
    """open_ledger names the variable when the URL is neither SQLite nor PostgreSQL."""
    with pytest.raises(LedgerError, match="AUTOSUBS_DATABASE_URL"):
        await open_ledger("mysql://db/autosubs")


async def test_an_intent_needs_a_running_lease_and_renews_it(ledger: LedgerProtocol) -> None:
    """Before a create on Gcore the intent is recorded only on a live lease, which it renews:
    a job whose lease ran out may be someone else's already, even if nobody claimed it yet."""
    await _planned(ledger, FIXED_PLAN)
    [job] = [
        t
        for t in await ledger.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
        if t.target == "fre"
    ]
    await ledger.update_track(
        job, "A", state="creating", release=False, renew_for=LEASE, now=T0 + LEASE - 1
    )
    # Renewed: past the old expiry nobody else can take it.
    taken = await ledger.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + LEASE + 1)
    assert "fre" not in [t.target for t in taken]
    with pytest.raises(LeaseLost):
        await ledger.update_track(
            job, "A", task_done_at=T0, release=False, renew_for=LEASE, now=T0 + 3 * LEASE
        )


@pytest.mark.parametrize("count", [0, 1, 31, 64, 65, 127, 200, 256])
def test_sqlite_batch_sizes_cover_the_rows_in_few_statement_shapes(count: int) -> None:
    chunks = list(sqlite_db.batch_sizes(count))
    assert sum(size for _, size in chunks) == count
    assert [start for start, _ in chunks] == list(
        itertools.accumulate((size for _, size in chunks[:-1]), initial=0)
    )[: len(chunks)]
    assert {size for _, size in chunks} <= {1, 2, 4, 8, 16, 32, 64}
