"""The real ``autosubs serve`` process, killed with SIGKILL mid-flight and restarted.

The service runs as a subprocess (webhook server and sweeper in one process, as deployed);
the Gcore simulator runs in this process on loopback. Whatever the kill interrupted, the
restarted service must finish every track exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from handler import tokens
from handler.ledger import TRACK_TERMINAL_STATES, Ledger
from handler.simulator import SimulatorConfig, create_simulator_app
from tests.support.servers import free_port, serve_in_thread

API_KEY = "crash-test-key"
SECRET = "crash-test-secret"

pytestmark = pytest.mark.slow


class Service:
    """``python -m handler serve`` as a child process we own (and stop by its PID)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "handler", "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{self.env['PORT']}/healthz"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(url, timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("service did not start: " + self.log.read_text()[-2000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(30)

    def stop_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def service_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    port = free_port()
    profile = tokens.Profile(languages=("fre", "ger"))
    token = tokens.mint(profile, [SECRET])
    webhook_url = f"http://127.0.0.1:{port}/webhooks/gcore/{token}"
    simulator = create_simulator_app(
        SimulatorConfig(api_key=API_KEY, webhook_url=webhook_url, time_scale=0.1)
    )
    with serve_in_thread(simulator) as sim_url:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "GCORE_API_KEY": API_KEY,
            "GCORE_BASE_URL": sim_url,
            "AUTOSUBS_SECRET_KEYS": SECRET,
            "AUTOSUBS_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "AUTOSUBS_ALLOWED_CIDRS": "127.0.0.1/32",
            "AUTOSUBS_POLL_FLOOR": "0.1",
            "AUTOSUBS_POLL_CEILING": "1",
            "AUTOSUBS_SWEEP_INTERVAL": "0.5",
            "AUTOSUBS_RETRY_BASE": "0.5",
            "AUTOSUBS_GCORE_RPS": "200",
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        yield env, sim_url, str(tmp_path / "ledger.db")


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_kill_9_then_restart_finishes_everything_once(
    service_env: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    """SIGKILL after tasks were created; the restarted service attaches all, duplicates none."""
    env, sim_url, ledger_path = service_env
    service = Service(env, tmp_path / "service.log")
    try:
        service.start()
        async with httpx.AsyncClient(base_url=sim_url, timeout=10) as sim:
            video_ids = []
            for n in range(3):
                body = {"name": f"v{n}", "duration_ms": 40_000}
                upload = await sim.post("/_sim/upload", json=body)
                video_ids.append(int(upload.json()["id"]))

            async def tasks_created() -> bool:
                state = (await sim.get("/_sim/state")).json()
                return len(state["tasks"]) >= 3

            await _wait(tasks_created, 30, "the first AI tasks")
            service.kill()
            killed_with = len((await sim.get("/_sim/state")).json()["tasks"])

            service.start()
            ledger = Ledger(ledger_path)
            try:

                async def all_settled() -> bool:
                    for video_id in video_ids:
                        tracks = await ledger.tracks_of(video_id)
                        if len(tracks) < 3 or any(
                            t.state not in TRACK_TERMINAL_STATES for t in tracks
                        ):
                            return False
                    return True

                await _wait(all_settled, 90, "every track to settle after the restart")
                for video_id in video_ids:
                    states = {t.target: t.state for t in await ledger.tracks_of(video_id)}
                    assert states == {"*": "attached", "fre": "attached", "ger": "attached"}
            finally:
                ledger.close()

            state = (await sim.get("/_sim/state")).json()
            per_job = Counter(
                ":".join(t["task_data"]["client_user_id"].split(":")[1:3]) for t in state["tasks"]
            )
            assert len(state["tasks"]) >= killed_with
            assert set(per_job.values()) == {1}, per_job  # one task per (video, language)
            for video_id in video_ids:
                subs = (
                    await sim.get(
                        f"/streaming/videos/{video_id}/subtitles",
                        headers={"Authorization": f"APIKey {API_KEY}"},
                    )
                ).json()
                assert sorted(s["language"] for s in subs) == ["eng", "fre", "ger"]
        # SIGTERM: graceful shutdown, exit 0.
        assert service.terminate() == 0
    finally:
        service.stop_if_running()
