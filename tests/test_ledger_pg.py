"""What only PostgreSQL has to prove: several replicas at once, scale, restarts, wiring.

Each test opens two or more ledgers (each its own connection pool, as separate replicas
would) on a fresh database of the session's throwaway cluster. The contract every backend
meets is in test_ledger.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import ValidationError

from handler import cli, tokens
from handler.app import create_app
from handler.config import Settings
from handler.errors import LedgerError
from handler.ledger import LeaseLost, LedgerProtocol, open_ledger
from handler.ledger_pg import PostgresLedger
from handler.tokens import Profile
from tests.support.postgres import Cluster, Unavailable, start_bouncer, start_cluster
from tests.support.servers import serve_in_thread

T0 = 1_700_000_000.0
LEASE = 300.0
PROFILE = Profile(languages=("fre",))


@pytest.fixture
def url(pg_cluster: Cluster, pg_database: str) -> str:
    return pg_cluster.url(pg_database)


@pytest.fixture
async def replicas(url: str) -> AsyncIterator[list[LedgerProtocol]]:
    """Two ledgers on one database, each with its own pool: two replicas."""
    ledgers = [await open_ledger(url), await open_ledger(url)]
    yield ledgers
    for ledger in ledgers:
        await ledger.aclose()


def _populate(url: str, rows: dict[str, int], *, due: float = T0, first: int = 1) -> None:
    """Videos ``first``.. with one track each, in the given states (generate_series: fast)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for state, n in rows.items():
            last = first + n - 1
            conn.execute(
                "INSERT INTO videos (video_id, profile, state, next_run_at, created_at, "
                "updated_at) SELECT g, '{}', 'planned', 0, 0, 0 "
                "FROM generate_series(%s::int, %s::int) g",
                (first, last),
            )
            conn.execute(
                "INSERT INTO tracks (video_id, target, kind, state, next_run_at, created_at, "
                "updated_at) SELECT g, 'fre', 'translation', %s, %s, 0, 0 "
                "FROM generate_series(%s::int, %s::int) g",
                (state, due, first, last),
            )
            first = last + 1


async def _drain(ledger: LedgerProtocol, owner: str, **claim: Any) -> list[tuple[int, str]]:
    """Claim in small batches until nothing is left; what this owner got."""
    got: list[tuple[int, str]] = []
    while batch := await ledger.claim_tracks(owner, limit=7, lease_seconds=LEASE, now=T0, **claim):
        got += [(t.video_id, t.target) for t in batch]
    return got


# --- several replicas ------------------------------------------------------------------------


async def test_concurrent_claims_never_share_a_job(
    url: str, replicas: list[LedgerProtocol]
) -> None:
    """Four claimers on two pools drain 300 due jobs together; no job is claimed twice."""
    _populate(url, {"task_started": 300})
    a, b = replicas
    results = await asyncio.gather(
        _drain(a, "a1"), _drain(a, "a2"), _drain(b, "b1"), _drain(b, "b2")
    )
    claimed = [job for result in results for job in result]
    assert len(claimed) == len(set(claimed)) == 300
    assert all(results), [len(r) for r in results]  # the work really was shared


async def test_claim_skips_rows_another_transaction_holds(
    url: str, replicas: list[LedgerProtocol]
) -> None:
    """A claim passes over rows locked by an open transaction at once, instead of waiting."""
    _populate(url, {"task_started": 10})
    async with await psycopg.AsyncConnection.connect(url) as other:  # a transaction stays open
        await other.execute("SELECT 1 FROM tracks WHERE video_id <= 4 FOR UPDATE")
        claimed = await asyncio.wait_for(
            replicas[0].claim_tracks("A", limit=50, lease_seconds=LEASE, now=T0), timeout=5
        )
        assert sorted(t.video_id for t in claimed) == list(range(5, 11))
        await other.rollback()
    rest = await replicas[1].claim_tracks("B", limit=50, lease_seconds=LEASE, now=T0)
    assert sorted(t.video_id for t in rest) == [1, 2, 3, 4]


async def test_a_dead_replicas_jobs_come_back_after_its_lease(url: str) -> None:
    """Replica A claims and dies; B gets nothing until A's lease runs out, then everything,
    and A (back from the dead) can record nothing."""
    a = await open_ledger(url)
    _populate(url, {"planned": 3, "task_started": 2})
    mine = await a.claim_tracks("A", limit=10, lease_seconds=LEASE, now=T0)
    assert len(mine) == 5
    await a.aclose()  # dies without releasing anything

    b = await open_ledger(url)
    try:
        assert await b.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + LEASE - 1) == []
        theirs = await b.claim_tracks("B", limit=10, lease_seconds=LEASE, now=T0 + LEASE + 1)
        assert sorted(t.key for t in theirs) == sorted(t.key for t in mine)
        await b.update_track(theirs[0], "B", state="task_started", task_id="t-b", now=T0 + 400)

        revived = await open_ledger(url)
        try:
            for job in mine:
                with pytest.raises(LeaseLost):
                    await revived.update_track(job, "A", state="failed", now=T0 + 401)
        finally:
            await revived.aclose()
        [row] = await b.tracks_of(theirs[0].video_id)
        assert (row.state, row.task_id) == ("task_started", "t-b")
    finally:
        await b.aclose()


async def test_max_active_holds_across_concurrent_replicas(
    url: str, replicas: list[LedgerProtocol]
) -> None:
    """Six claimers on two pools, racing over 60 planned jobs with 4 tasks in flight and a cap
    of 10: exactly 6 planned jobs are taken, never more."""
    _populate(url, {"task_started": 4}, due=T0 + 3600)  # in flight, not due yet
    _populate(url, {"planned": 60}, first=5)
    a, b = replicas

    async def claimer(ledger: LedgerProtocol, owner: str) -> int:
        taken = 0
        for _ in range(3):
            jobs = await ledger.claim_tracks(
                owner, limit=50, lease_seconds=LEASE, now=T0, max_active=10
            )
            taken += len(jobs)
        return taken

    counts = await asyncio.gather(*(claimer(r, f"{n}{i}") for i in range(3) for n, r in
                                    (("a", a), ("b", b))))  # fmt: skip
    assert sum(counts) == 6
    assert await a.active_task_count() == 4


# --- scale -----------------------------------------------------------------------------------


async def test_claim_uses_an_index_at_scale(url: str, replicas: list[LedgerProtocol]) -> None:
    """With 20,000 tracks (mostly finished, a backlog planned, some due) and fresh
    statistics, the track claim reads the due index: no sequential scan of tracks."""
    _populate(url, {"attached": 17_000, "planned": 2_000}, due=T0 + 86_400)
    _populate(url, {"planned": 1_000}, first=19_001)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    plan = await replicas[0].explain_claim()
    assert "Seq Scan on tracks" not in plan, plan
    assert "tracks_due" in plan, plan
    started = time.monotonic()
    jobs = await replicas[0].claim_tracks("A", limit=50, lease_seconds=LEASE, max_active=50)
    assert len(jobs) == 50
    assert time.monotonic() - started < 1.0


# --- restarts and failures -------------------------------------------------------------------


@pytest.fixture
def private_cluster(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A cluster of this test's own, to restart without disturbing the session's."""
    try:
        cluster = start_cluster()
    except Unavailable as exc:
        pytest.fail(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.parametrize("through", ["postgres", "pgbouncer"])
async def test_next_operation_succeeds_after_a_server_restart(
    private_cluster: Cluster, through: str
) -> None:
    """pg_ctl restart between two operations: the pool checks connections before lending
    them, so the next operation succeeds at once (directly and through PgBouncer)."""
    bouncer = start_bouncer(private_cluster) if through == "pgbouncer" else None
    try:
        name = private_cluster.create_database()
        url = bouncer.url(name) if bouncer else private_cluster.url(name)
        ledger = await open_ledger(url)
        try:
            await ledger.record_video_event(
                1, PROFILE, event_status="ready", due_in=0, token_fp="fp", now=T0
            )
            private_cluster.restart()
            assert await ledger.event_count() == 1
            await ledger.record_video_event(
                2, PROFILE, event_status="ready", due_in=0, token_fp="fp", now=T0
            )
            assert len(await ledger.claim_videos("A", limit=5, lease_seconds=LEASE, now=T0)) == 2
        finally:
            await ledger.aclose()
    finally:
        if bouncer:
            bouncer.stop()


async def test_unreachable_server_is_a_ledger_error_without_the_password() -> None:
    """A server that is not there fails the open within its timeout, password masked."""
    url = "postgresql://autosubs:s3cret@127.0.0.1:9/autosubs"
    started = time.monotonic()
    with pytest.raises(LedgerError) as caught:
        await PostgresLedger.open(url, timeout=1.0)
    assert time.monotonic() - started < 5
    assert "s3cret" not in str(caught.value)
    assert "autosubs:***@127.0.0.1:9" in str(caught.value)


# --- wiring: configuration, CLI, app ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "postgresql://autosubs:pw@db.example:5432/autosubs?sslmode=require",
        "postgres://autosubs@db.example/autosubs",
        "sqlite:///./autosubs.db",
    ],
)
def test_database_urls_accepted(value: str) -> None:
    """AUTOSUBS_DATABASE_URL takes sqlite:///, postgresql:// and postgres:// URLs."""
    assert Settings(database_url=value).database_url == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("mysql://db/autosubs", "expected sqlite:///PATH or postgresql://"),
        ("postgresql://u:pw@db:notaport/x", "malformed PostgreSQL URL"),
        ("postgresql://db/x?bogus_option=1", "malformed PostgreSQL URL"),
        ("sqlite:///", "sqlite:/// needs a file path"),
    ],
)
def test_malformed_database_url_names_the_variable(value: str, why: str) -> None:
    """A malformed URL is refused at start with AUTOSUBS_DATABASE_URL in the message."""
    with pytest.raises(ValidationError, match=f"AUTOSUBS_DATABASE_URL: {why}"):
        Settings(database_url=value)


def test_database_label_masks_the_password() -> None:
    """What the service logs as its ledger never shows the password."""
    settings = Settings(database_url="postgresql://autosubs:s3cret@db:5432/autosubs")
    assert settings.database_label == "postgresql://autosubs:***@db:5432/autosubs"


def test_cli_rejects_a_malformed_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``autosubs migrate`` with a bad URL: one line naming the variable, exit 2."""
    monkeypatch.setenv("AUTOSUBS_DATABASE_URL", "postgresql://u:s3cret@db:port/x")
    assert cli.main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autosubs: error: AUTOSUBS_DATABASE_URL: malformed PostgreSQL URL")
    assert "s3cret" not in err


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_cli_migrate_prints_the_version(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``autosubs migrate`` applies the migrations once, then says it is up to date."""
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        database_url = request.getfixturevalue("url")
    settings = Settings(database_url=database_url)
    assert await cli._migrate(settings) == 0
    assert "schema version 2 (applied 1..2)" in capsys.readouterr().out
    assert await cli._migrate(settings) == 0
    assert "schema version 2 (already up to date)" in capsys.readouterr().out


def test_app_on_postgres_records_webhooks(url: str) -> None:
    """The service opens the PostgreSQL ledger in its lifespan: /readyz is ready, a webhook
    is recorded, /metrics counts it, and shutdown closes the pool."""
    settings = Settings(secret_keys="k", sweeper="off", database_url=url, allowed_cidrs="*")
    token = tokens.mint(PROFILE, settings.signing_keys)
    with serve_in_thread(create_app(settings)) as base:
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
        body = {"type": "video", "message": {"video": {"id": 77, "status": "viewable"}}}
        assert httpx.post(f"{base}/webhooks/gcore/{token}", json=body).status_code == 202
        assert 'autosubs_videos{state="new"} 1' in httpx.get(f"{base}/metrics").text
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT video_id, state FROM videos").fetchall() == [(77, "new")]
        [[sessions]] = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid != pg_backend_pid()"
        ).fetchall()
        assert sessions == 0
