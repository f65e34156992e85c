"""The end-to-end scenarios again, with the ledger on a real PostgreSQL server.

Same service, simulator and sweeper over loopback as tests/test_e2e.py; only
``AUTOSUBS_DATABASE_URL`` changes, to a fresh database on the throwaway cluster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests import test_e2e as e2e
from tests.support.postgres import Cluster
from tests.world import DATABASE_URL, world

SCENARIOS: list[Callable[[Path], Awaitable[None]]] = [
    e2e.test_auto_language_happy_path,
    e2e.test_fixed_audio_language_starts_everything_at_once,
    e2e.test_target_equal_to_source_costs_nothing,
    e2e.test_twenty_concurrent_duplicate_webhooks,
    e2e.test_video_not_on_the_account_starts_nothing,
    e2e.test_existing_human_track_is_left_alone,
    e2e.test_no_speech_attaches_nothing,
    e2e.test_rate_limit_and_server_error_storms,
    e2e.test_video_delete_mid_flight_cancels_tasks,
    e2e.test_vtt_content_without_newlines_is_rebuilt,
    e2e.test_restart_with_non_empty_ledger_finishes_the_work,
    e2e.test_task_created_but_not_recorded_is_adopted,
    e2e.test_track_posted_but_not_recorded_is_adopted,
    e2e.test_never_more_than_max_active_tasks_in_flight,
    e2e.test_recover_rebuilds_a_lost_ledger_without_doing_anything_twice,
]


@pytest.fixture
def on_postgres(pg_cluster: Cluster, pg_database: str) -> Iterator[None]:
    token = DATABASE_URL.set(pg_cluster.url(pg_database))
    try:
        yield
    finally:
        DATABASE_URL.reset(token)


@pytest.mark.usefixtures("on_postgres")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__.removeprefix("test_"))
async def test_scenario_on_postgres(
    scenario: Callable[[Path], Awaitable[None]], tmp_path: Path
) -> None:
    """Each end-to-end scenario holds with the ledger on PostgreSQL."""
    await scenario(tmp_path)


@pytest.mark.usefixtures("on_postgres")
async def test_the_scenarios_really_run_on_postgres(tmp_path: Path) -> None:
    """The fixture reaches the world: its ledger is the PostgreSQL one, not a SQLite file."""
    async with world(tmp_path) as w:
        assert w.settings.database_url.startswith("postgresql://")
        assert type(w.ledger).__name__ == "PostgresLedger"
        assert "ledger.db" not in w.settings.database_url
