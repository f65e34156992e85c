"""The operator's commands as processes: sweep --once, status, recover, migrate.

Each runs ``python -m handler …`` against a real ledger file and the simulator on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.world import API_KEY, SECRET, World, world


def _run(w: World, *args: str, database: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "GCORE_API_KEY": API_KEY,
        "GCORE_BASE_URL": w.sim_url,
        "AUTOSUBS_SECRET_KEYS": SECRET,
        "AUTOSUBS_DATABASE_URL": database or w.settings.database_url,
        "AUTOSUBS_LOG_FORMAT": "json",
        "AUTOSUBS_POLL_FLOOR": "0.05",
        "AUTOSUBS_POLL_CEILING": "0.5",
    }
    return subprocess.run(
        [sys.executable, "-m", "handler", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _cli(
    w: World, *args: str, database: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run, w, *args, database=database)


async def test_sweep_once_from_cron_finishes_a_video_and_status_reports_it(tmp_path: Path) -> None:
    """Repeated `sweep --once` (a cron job) attach every track; `status --json` shows them."""
    async with world(tmp_path, languages=("fre",)) as w:
        video_id = await w.upload(duration_ms=20_000)
        await w.sweep_until(lambda: w.ledger.get_video(video_id), timeout=5, pause=0.05)
        for _ in range(60):
            done = await _cli(w, "sweep", "--once")
            assert done.returncode == 0, done.stderr
            if await w.settled(video_id, expected_tracks=2):
                break
            await asyncio.sleep(0.2)
        status = await _cli(w, "status", "--video", str(video_id), "--json")
        assert status.returncode == 0, status.stderr
        [video] = json.loads(status.stdout)
        assert video["video_id"] == video_id
        assert {t["language"]: t["state"] for t in video["tracks"]} == {
            "eng": "attached", "fre": "attached"
        }  # fmt: skip
        assert all(t["subtitle_id"] and t["task_id"] for t in video["tracks"])
        assert all(t["qc"] is not None for t in video["tracks"])
        human = await _cli(w, "status", "--video", str(video_id))
        assert human.returncode == 0
        assert f"video {video_id}" in human.stdout
        assert "qc netflix" in human.stdout


async def test_status_of_an_unknown_video_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Asking about a video the ledger never saw is a usage error, not a traceback."""
    async with world(tmp_path) as w:
        result = await _cli(w, "status", "--video", "424242")
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "autosubs: error: video 424242 is not in the ledger"
        ]


async def test_recover_and_migrate_commands(tmp_path: Path) -> None:
    """`recover` rebuilds a fresh ledger from Gcore; `migrate` reports its schema version."""
    async with world(tmp_path, languages=("fre",)) as w:
        video_id = await w.upload(duration_ms=20_000)
        await w.run_video(video_id)
        fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
        migrated = await _cli(w, "migrate", database=fresh)
        assert migrated.returncode == 0, migrated.stderr
        assert "schema version" in migrated.stdout
        recovered = await _cli(w, "recover", database=fresh)
        assert recovered.returncode == 0, recovered.stderr
        assert "recovered 1 video(s)" in recovered.stdout
        again = await _cli(w, "recover", database=fresh)
        assert "recovered 0 video(s)" in again.stdout
        assert "1 already in the ledger" in again.stdout
