"""``autosubs demo``: the whole product on loopback, with no account and no network.

Starts the bundled Gcore simulator and the real service (webhook route + sweeper) in one
process on 127.0.0.1, "uploads" a sample video to the simulator, lets the simulator send its
webhooks to the service, shows each language's progress, and prints the attached tracks.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn

from handler import languages, logs, tokens
from handler.app import create_app
from handler.cli import qc_line
from handler.config import Settings
from handler.ledger import SPOKEN, TRACK_TERMINAL_STATES, open_ledger
from handler.simulator import SimulatorConfig, create_simulator_app

DEMO_KEY = "demo-api-key"
TIMEOUT = 180.0


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _server(app: object, sock: socket.socket) -> tuple[uvicorn.Server, socket.socket]:
    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="on")  # type: ignore[arg-type]
    return uvicorn.Server(config), sock


def run_demo(*, languages: str = "fre,ger", time_scale: float = 0.1) -> int:
    logs.configure("console", level=logging.WARNING)
    try:
        profile = tokens.Profile(languages=[c for c in languages.split(",") if c.strip()])
    except ValueError as exc:
        print(f"autosubs: error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="autosubs-demo-") as tmp:
        return asyncio.run(_demo(profile, time_scale, Path(tmp)))


async def _demo(profile: tokens.Profile, time_scale: float, tmp: Path) -> int:
    sim_sock, svc_sock = _bound_socket(), _bound_socket()
    sim_url, svc_url = _url(sim_sock), _url(svc_sock)
    secret = secrets.token_urlsafe(24)
    settings = Settings(
        gcore_api_key=DEMO_KEY,
        gcore_base_url=sim_url,
        secret_keys=secret,
        database_url=f"sqlite:///{tmp / 'autosubs.db'}",
        allowed_cidrs="127.0.0.1/32",
        sweep_interval=1.0,
        # The simulator runs time_scale× faster than Gcore: poll at least every second so
        # the demo shows progress instead of waiting for a real-world estimate.
        poll_floor=0.2,
        poll_ceiling=1.0,
        log_format="console",
    )
    token = tokens.mint(profile, settings.signing_keys)
    webhook_url = f"{svc_url}/webhooks/gcore/{token}"
    simulator = create_simulator_app(
        SimulatorConfig(api_key=DEMO_KEY, webhook_url=webhook_url, time_scale=time_scale)
    )
    servers = [_server(simulator, sim_sock), _server(create_app(settings), svc_sock)]
    runs = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    print("autosubs demo: everything runs on 127.0.0.1, no account, no network")
    print(f"  Gcore simulator   {sim_url}")
    print(f"  autosubs service  {svc_url}")
    print(
        f"  webhook URL       {svc_url}/webhooks/gcore/<signed token: {tokens.fingerprint(token)}>"
    )
    print(f"  profile           languages={','.join(profile.languages)} audio=auto")
    try:
        while not all(server.started for server, _ in servers):
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=sim_url, timeout=10.0) as sim:
            upload = await sim.post(
                "/_sim/upload", json={"name": "Sample talk (2 min)", "duration_ms": 120_000}
            )
            upload.raise_for_status()
            video_id = int(upload.json()["id"])
            print(f"\nuploaded video {video_id} to the simulator; waiting for its webhooks…\n")
            ok = await _watch(settings, video_id)
            await _print_tracks(sim, video_id)
        return 0 if ok else 1
    finally:
        for server, _ in servers:
            server.should_exit = True
        await asyncio.gather(*runs, return_exceptions=True)


async def _watch(settings: Settings, video_id: int) -> bool:
    ledger = await open_ledger(settings.database_url)
    started = time.monotonic()
    last: list[str] = []
    try:
        while time.monotonic() - started < TIMEOUT:
            video = await ledger.get_video(video_id)
            tracks = await ledger.tracks_of(video_id)
            lines = [f"video {video_id}: {video.state if video else 'not yet notified'}"]
            lines += [
                f"  {_label(t.target, t.language):<24} {t.state:<12}"
                + (f" {t.progress}%" if t.state == "task_started" and t.progress else "")
                + (f" ({t.reason})" if t.reason and t.state != "attached" else "")
                for t in tracks
            ]
            if lines != last:
                elapsed = time.monotonic() - started
                print(f"[{elapsed:5.1f}s] " + "\n         ".join(lines))
                last = lines
            if video and video.state in ("rejected", "cancelled"):
                return False
            if tracks and all(t.state in TRACK_TERMINAL_STATES for t in tracks):
                print("\nquality control (autosubs status shows the same):")
                for t in tracks:
                    if t.qc:
                        print(f"  {_label(t.target, t.language):<24} {qc_line(t.qc)}")
                return all(t.state in ("attached", "skipped") for t in tracks)
            await asyncio.sleep(0.2)
        print("demo: timed out", file=sys.stderr)
        return False
    finally:
        await ledger.aclose()


def _label(target: str, language: str | None) -> str:
    if target == SPOKEN:
        return f"spoken ({language or 'detecting'})"
    return f"{languages.name_of(target)} ({target})"


async def _print_tracks(sim: httpx.AsyncClient, video_id: int) -> None:
    response = await sim.get(
        f"/streaming/videos/{video_id}/subtitles", headers={"Authorization": f"APIKey {DEMO_KEY}"}
    )
    tracks = response.json()
    print(f"\n{len(tracks)} subtitle track(s) attached to video {video_id}:")
    for track in tracks:
        vtt = track.get("vtt") or ""
        print(f"\n--- #{track['id']} {track['name']} [{track['language']}] ---")
        print("\n".join(vtt.splitlines()[:9]))
        print("…")
