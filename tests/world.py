"""A whole autosubs world on loopback for end-to-end tests.

The service (webhook route, real SQLite ledger) and the Gcore simulator each run under
uvicorn on 127.0.0.1 in their own thread; the simulator sends its webhooks to the service
over real HTTP. The test drives a real Sweeper (its own ledger connection to the same file,
its own HTTP client to the simulator) pass by pass, so nothing waits on a timer it does not
control.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from handler import tokens
from handler.app import create_app
from handler.config import Settings
from handler.gcore import GcoreClient
from handler.ledger import TRACK_TERMINAL_STATES, LedgerProtocol, TrackJob, open_ledger
from handler.simulator import SimulatorConfig, create_simulator_app
from handler.sweeper import Sweeper
from tests.support.servers import serve_in_thread

API_KEY = "test-api-key"
SECRET = "test-secret-key"


# The ledger a world uses unless a test names one: SQLite in the test's tmp_path, or the
# URL a fixture puts here to run the same scenarios on PostgreSQL (tests/test_e2e_pg.py).
DATABASE_URL: ContextVar[str | None] = ContextVar("autosubs_test_database_url", default=None)


def test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gcore_api_key": API_KEY,
        "gcore_base_url": "http://127.0.0.1:9",
        "secret_keys": SECRET,
        "database_url": DATABASE_URL.get() or f"sqlite:///{tmp_path / 'ledger.db'}",
        "allowed_cidrs": "127.0.0.1/32",
        "sweeper": "off",
        "poll_floor": 0.05,
        "poll_ceiling": 1.0,
        "gcore_rps": 500.0,
        "sweep_interval": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class World:
    settings: Settings
    service_url: str
    sim_url: str
    webhook_url: str
    ledger: LedgerProtocol
    sweeper: Sweeper
    sim: httpx.AsyncClient
    service: httpx.AsyncClient
    sweeps: int = field(default=0)

    async def upload(self, **body: Any) -> int:
        response = await self.sim.post("/_sim/upload", json={"name": "test video", **body})
        response.raise_for_status()
        return int(response.json()["id"])

    async def faults(self, **faults: Any) -> None:
        (await self.sim.post("/_sim/faults", json=faults)).raise_for_status()

    async def calls(self) -> list[dict[str, Any]]:
        response = await self.sim.get("/_sim/calls")
        response.raise_for_status()
        return list(response.json())

    async def state(self) -> dict[str, Any]:
        response = await self.sim.get("/_sim/state")
        response.raise_for_status()
        return dict(response.json())

    async def subtitles(self, video_id: int) -> list[dict[str, Any]]:
        response = await self.sim.get(
            f"/streaming/videos/{video_id}/subtitles",
            headers={"Authorization": f"APIKey {API_KEY}"},
        )
        response.raise_for_status()
        return list(response.json())

    async def tasks(self) -> list[dict[str, Any]]:
        return list((await self.state())["tasks"])

    async def sweep_until(
        self, done: Callable[[], Any], *, timeout: float = 30.0, pause: float = 0.02
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            await self.sweeper.sweep_once()
            self.sweeps += 1
            outcome = done()
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            if outcome:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {timeout} s: {await self.describe()}")
            await asyncio.sleep(pause)

    async def settled(self, video_id: int, expected_tracks: int | None = None) -> bool:
        video = await self.ledger.get_video(video_id)
        if video is None or video.state in ("new", "waiting"):
            return False
        tracks = await self.ledger.tracks_of(video_id)
        if video.state in ("rejected", "cancelled"):
            # A deleted video's tasks are cancelled on Gcore by the sweep after the webhook.
            return all(t.state in TRACK_TERMINAL_STATES for t in tracks)
        if expected_tracks is not None and len(tracks) < expected_tracks:
            return False
        return bool(tracks) and all(t.state in TRACK_TERMINAL_STATES for t in tracks)

    async def run_video(self, video_id: int, *, timeout: float = 30.0) -> list[TrackJob]:
        await self.sweep_until(lambda: self.settled(video_id), timeout=timeout)
        return await self.ledger.tracks_of(video_id)

    async def webhook(self, payload: Any, **kwargs: Any) -> httpx.Response:
        return await self.service.post(self.webhook_url, json=payload, **kwargs)

    async def describe(self) -> str:
        rows = []
        for video in await self.ledger.videos():
            tracks = await self.ledger.tracks_of(video.video_id)
            rows.append(
                f"video {video.video_id} {video.state} ({video.reason}): "
                + ", ".join(f"{t.target}={t.state}({t.reason})" for t in tracks)
            )
        return "; ".join(rows) or "empty ledger"


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path,
    *,
    languages: tuple[str, ...] = ("fre", "ger"),
    audio_language: str = "auto",
    time_scale: float = 0.02,
    **overrides: Any,
) -> AsyncIterator[World]:
    settings = test_settings(tmp_path, **overrides)
    profile = tokens.Profile(languages=languages, audio_language=audio_language)
    token = tokens.mint(profile, settings.signing_keys)
    with serve_in_thread(create_app(settings)) as service_url:
        webhook_url = f"{service_url}/webhooks/gcore/{token}"
        simulator = create_simulator_app(
            SimulatorConfig(api_key=API_KEY, webhook_url=webhook_url, time_scale=time_scale)
        )
        with serve_in_thread(simulator) as sim_url:
            sweeper_settings = settings.model_copy(update={"gcore_base_url": sim_url})
            ledger = await open_ledger(settings.database_url)
            async with (
                httpx.AsyncClient(
                    base_url=sim_url, headers={"Authorization": f"APIKey {API_KEY}"}
                ) as gcore_http,
                httpx.AsyncClient(base_url=sim_url, timeout=10) as sim,
                httpx.AsyncClient(timeout=10) as service,
            ):
                gcore = GcoreClient(gcore_http, rps=settings.gcore_rps, retries=3)
                sweeper = Sweeper(sweeper_settings, ledger, gcore, owner="test-sweeper")
                w = World(
                    settings=sweeper_settings,
                    service_url=service_url,
                    sim_url=sim_url,
                    webhook_url=webhook_url,
                    ledger=ledger,
                    sweeper=sweeper,
                    sim=sim,
                    service=service,
                )
                try:
                    yield w
                finally:
                    # A test may have swapped the ledger (a restart): close both.
                    for opened in {id(ledger): ledger, id(w.ledger): w.ledger}.values():
                        await opened.aclose()
