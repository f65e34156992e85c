"""The ``autosubs`` command: serve, sweep, webhook-url, status, migrate, simulator, demo.

Settings are read from the environment here, once, and passed down. A missing or malformed
setting ends the command with one line naming the variable and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from pydantic import ValidationError

from handler import languages, logs, tokens
from handler.config import ENV_NAMES, Settings
from handler.errors import AutosubsError, ConfigError
from handler.ledger import SPOKEN, LedgerProtocol, open_ledger

EXIT_USAGE = 2


def _settings() -> Settings:
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = ENV_NAMES.get(field, field)
        message = str(err.get("ctx", {}).get("error") or err["msg"])
        prefix = "" if message.startswith(f"{name}:") else f"{name}: "
        raise ConfigError(f"{prefix}{message}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autosubs", description="Automatic AI subtitles for Gcore Video Streaming."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "serve", help="webhook server (and the sweeper unless AUTOSUBS_SWEEPER=off)"
    )
    sweep = commands.add_parser("sweep", help="run the sweeper alone")
    sweep.add_argument("--once", action="store_true", help="one pass, then exit 0 (for cron)")
    url = commands.add_parser("webhook-url", help="print the webhook URL to give Gcore support")
    url.add_argument("--base-url", required=True, help="public base URL of this service")
    url.add_argument("--languages", default="", help="translation targets, e.g. fre,ger")
    url.add_argument("--audio-language", default="auto", help="auto, or the spoken language code")
    url.add_argument("--qc", default="netflix", choices=tokens.QC_PRESETS, help="subtitle preset")
    status = commands.add_parser("status", help="what autosubs did for each video and language")
    status.add_argument("--video", type=int, help="one video id")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    commands.add_parser(
        "migrate", help="apply pending ledger schema migrations and print the schema version"
    )
    recover = commands.add_parser(
        "recover", help="rebuild a lost ledger from our tasks and tracks on Gcore"
    )
    recover.add_argument(
        "--max-pages", type=int, default=20, help="pages of 100 AI tasks to search (newest first)"
    )
    sim = commands.add_parser("simulator", help="run the bundled Gcore Streaming API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8081)
    sim.add_argument("--webhook-url", default=None, help="where the simulator sends webhooks")
    sim.add_argument("--api-key", default="sim-key")
    sim.add_argument("--time-scale", type=float, default=1.0, help="<1 makes everything faster")
    demo = commands.add_parser("demo", help="offline demo: simulator + service + a sample video")
    demo.add_argument("--languages", default="fre,ger")
    demo.add_argument("--time-scale", type=float, default=0.1)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"autosubs: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AutosubsError as exc:
        print(f"autosubs: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "simulator":
        from handler.simulator.cli import run_simulator

        return run_simulator(args.host, args.port, args.webhook_url, args.api_key, args.time_scale)
    if args.command == "demo":
        from handler.demo import run_demo

        return run_demo(languages=args.languages, time_scale=args.time_scale)
    settings = _settings()
    logs.configure(settings.log_format)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "sweep":
        return asyncio.run(_sweep(settings, once=args.once))
    if args.command == "webhook-url":
        return _webhook_url(settings, args)
    if args.command == "status":
        return _status(settings, args.video, as_json=args.json)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "recover":
        return asyncio.run(_recover(settings, max_pages=args.max_pages))
    raise AssertionError(args.command)


async def _recover(settings: Settings, *, max_pages: int) -> int:
    from handler.recovery import recover

    async with _ledger_and_gcore(settings) as (ledger, gcore):
        summary = await recover(ledger, gcore, max_pages=max_pages)
    states = ", ".join(f"{n} {state}" for state, n in sorted(summary.tracks.items())) or "none"
    print(
        f"recovered {summary.videos} video(s); tracks: {states}; "
        f"{summary.already_known} already in the ledger; {summary.gone} deleted on Gcore"
    )
    return 0


@contextlib.asynccontextmanager
async def _ledger_and_gcore(settings: Settings) -> AsyncIterator[tuple[LedgerProtocol, Any]]:
    """The ledger and a Gcore client, opened for a command and closed after it."""
    from handler.app import gcore_http_client
    from handler.gcore import GcoreClient

    settings.require("gcore_api_key")
    ledger = await open_ledger(settings.database_url)
    try:
        async with gcore_http_client(settings) as http:
            yield ledger, GcoreClient(http, rps=settings.gcore_rps, retries=settings.gcore_retries)
    finally:
        await ledger.aclose()


def uvicorn_config(settings: Settings, app: Any) -> Any:
    """How ``serve`` runs uvicorn: no access log, proxies trusted only when configured."""
    import uvicorn

    trusted = settings.forwarded_allow_ips
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # The webhook token is a secret in the URL path: never write it to an access log.
        access_log=False,
        # Never uvicorn's default (127.0.0.1): an empty list believes no X-Forwarded-For.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or [],
        log_config=None,
        timeout_graceful_shutdown=10,
    )


def _serve(settings: Settings) -> int:
    import uvicorn

    from handler.app import create_app

    settings.require("secret_keys")
    if settings.sweeper == "on":
        settings.require("gcore_api_key")
    config = uvicorn_config(settings, create_app(settings))
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to the handler that
    # was installed before it. Ours makes that a clean exit 0 instead of death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.Server(config).run()
    return 0


async def _sweep(settings: Settings, *, once: bool) -> int:
    from handler.sweeper import Sweeper

    async with _ledger_and_gcore(settings) as (ledger, gcore):
        sweeper = Sweeper(settings, ledger, gcore)
        if once:
            worked = await sweeper.sweep_once()
            structlog.get_logger().info("sweep_once_done", steps=worked)
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await sweeper.run(stop)
        return 0


async def _migrate(settings: Settings) -> int:
    """``autosubs migrate``: what ``serve`` and ``sweep`` also do when they start."""
    ledger = await open_ledger(settings.database_url, migrate=False)
    try:
        before = await ledger.schema_version()
        after = await ledger.migrate()
    finally:
        await ledger.aclose()
    applied = f"applied {before + 1}..{after}" if after > before else "already up to date"
    print(f"ledger {settings.database_label}: schema version {after} ({applied})")
    return 0


def _webhook_url(settings: Settings, args: argparse.Namespace) -> int:
    settings.require("secret_keys")
    codes = [c for c in args.languages.split(",") if c.strip()]
    try:
        profile = tokens.Profile(languages=codes, audio_language=args.audio_language, qc=args.qc)
    except ValidationError as exc:
        raise ConfigError(str(exc.errors()[0].get("ctx", {}).get("error") or exc)) from None
    base = args.base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must start with http:// or https://, not {base!r}")
    print(f"{base}/webhooks/gcore/{tokens.mint(profile, settings.signing_keys)}")
    return 0


def _age(ts: float | None, now: float) -> str:
    if ts is None:
        return "-"
    seconds = int(now - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def qc_line(qc: dict[str, Any]) -> str:
    """One line of a track's QC report: what changed, and whether rules are still broken."""
    parts = [f"qc {qc.get('preset')}: cues {qc.get('cues_before')}→{qc.get('cues_after')}"]
    for label, key in (
        ("long lines", "lines_over_limit"),
        ("too fast", "cues_over_speed"),
        ("too short", "too_short"),
        ("too long", "too_long"),
        ("bad gaps", "bad_gaps"),
    ):
        before, after = qc.get(f"{key}_before", 0), qc.get(f"{key}_after", 0)
        if before or after:
            parts.append(f"{label} {before}→{after}")
    removed = qc.get("removed") or []
    if removed:
        texts = "; ".join(repr(r.get("text", ""))[:40] for r in removed[:3])
        parts.append(f"removed {len(removed)} ({texts}{'; …' if len(removed) > 3 else ''})")
    parts.append("FLAGGED: still breaks the preset" if qc.get("flagged") else "ok")
    return ", ".join(parts)


def _status(settings: Settings, video_id: int | None, *, as_json: bool) -> int:
    rows = asyncio.run(_status_rows(settings, video_id))
    if video_id is not None and not rows:
        raise ConfigError(f"video {video_id} is not in the ledger")
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    now = time.time()
    for video in rows:
        print(
            f"video {video['video_id']}  {video['state']}"
            + (f"  ({video['reason']})" if video["reason"] else "")
            + f"  languages={','.join(video['languages']) or '-'}"
            + f"  audio={video['audio_language']}  age={_age(video['created_at'], now)}"
        )
        for t in video["tracks"]:
            print(
                f"  {t['language'] or '?':<6} {t['kind']:<13} {t['state']:<12} "
                f"task={t['task_id'] or '-'}  subtitle={t['subtitle_id'] or '-'}  "
                f"age={_age(t['updated_at'], now)}" + (f"  {t['reason']}" if t["reason"] else "")
            )
            if t["qc"]:
                print(f"         {qc_line(t['qc'])}")
    if not rows:
        print("no videos in the ledger yet")
    return 0


async def _status_rows(settings: Settings, video_id: int | None) -> list[dict[str, object]]:
    ledger = await open_ledger(settings.database_url)
    try:
        return await _rows(ledger, video_id)
    finally:
        await ledger.aclose()


async def _rows(ledger: LedgerProtocol, video_id: int | None) -> list[dict[str, object]]:
    if video_id is not None:
        one = await ledger.get_video(video_id)
        videos = [one] if one else []
    else:
        videos = await ledger.videos()
    out: list[dict[str, object]] = []
    for v in videos:
        tracks = []
        for t in await ledger.tracks_of(v.video_id):
            tracks.append(
                {
                    "target": "spoken" if t.target == SPOKEN else t.target,
                    "language": t.language,
                    "language_name": languages.name_of(t.language) if t.language else None,
                    "kind": t.kind,
                    "state": t.state,
                    "task_id": t.task_id,
                    "subtitle_id": t.subtitle_id,
                    "reason": t.reason,
                    "attempts": t.attempts,
                    "progress": t.progress,
                    "created_at": t.created_at,
                    "updated_at": t.updated_at,
                    "qc": t.qc,
                    "qc_flagged": bool(t.qc and t.qc.get("flagged")),
                }
            )
        out.append(
            {
                "video_id": v.video_id,
                "state": v.state,
                "reason": v.reason,
                "languages": list(v.profile.languages),
                "audio_language": v.profile.audio_language,
                "source_language": v.source_language,
                "mp4_url": v.mp4_url,
                "created_at": v.created_at,
                "updated_at": v.updated_at,
                "tracks": tracks,
            }
        )
    return out
