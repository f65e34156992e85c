"""Starlette app factory: routes, probes, and the lifespan that runs the sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from handler import __version__, metrics, tokens
from handler.config import IPNetwork, Settings
from handler.errors import LedgerError
from handler.gcore import GcoreClient
from handler.group_commit import GroupCommit
from handler.ledger import LedgerProtocol, open_ledger
from handler.sweeper import Sweeper
from handler.webhooks import WEBHOOK_ROUTE, WebhookEndpoint, WebhookGate

log = structlog.get_logger(__name__)

SHUTDOWN_GRACE = 20.0  # seconds the in-flight sweep pass gets to finish on shutdown


def gcore_http_client(settings: Settings) -> httpx.AsyncClient:
    assert settings.gcore_api_key is not None
    return httpx.AsyncClient(
        base_url=settings.gcore_base_url,
        headers={
            "Authorization": f"APIKey {settings.gcore_api_key.get_secret_value()}",
            "User-Agent": f"autosubs/{__version__}",
        },
        timeout=httpx.Timeout(settings.gcore_timeout, connect=5.0),
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.ledger.ping()
    except LedgerError as exc:
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
    task: asyncio.Task[None] | None = request.app.state.sweeper_task
    if task is not None and task.done():
        return JSONResponse({"status": "unavailable", "error": "sweeper stopped"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics_endpoint(request: Request) -> Response:
    state = request.app.state
    text = await metrics.render(state.ledger, state.webhook_stats, state.gcore)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


class Service(Starlette):
    """The app: Starlette, behind a ``WebhookGate`` that takes the webhook POSTs itself.

    The gate is outermost: it applies the allow-list to every webhook path and hands
    ``POST /webhooks/gcore/{token}`` straight to the endpoint, ahead of Starlette's
    middleware stack and router (a few microseconds a request that the endpoint, which
    answers its own errors, does not need: ~4 % of ingest throughput). Everything else goes
    through Starlette as usual.
    """

    def __init__(
        self, *, allowed_networks: list[IPNetwork] | None, webhooks: ASGIApp, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.webhook_gate = WebhookGate(super().__call__, allowed_networks, endpoint=webhooks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.webhook_gate(scope, receive, send)


def create_app(settings: Settings, *, ledger: LedgerProtocol | None = None) -> Service:
    """The service. ``ledger`` may be passed in (tests); otherwise it is opened here."""
    settings.require("secret_keys")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own_ledger = ledger is None
        # Opening applies pending migrations (under a lock on PostgreSQL: replicas may race).
        app.state.ledger = await open_ledger(settings.database_url) if ledger is None else ledger
        # SQLite: webhook batches are committed by a child process, off the event loop.
        await app.state.ledger.start_writer()
        app.state.group_commit = GroupCommit(app.state.ledger)
        app.state.sweeper_task = None
        app.state.sweeper = None
        app.state.gcore = None
        stop = asyncio.Event()
        http: httpx.AsyncClient | None = None
        if settings.sweeper == "on":
            settings.require("gcore_api_key")
            http = gcore_http_client(settings)
            app.state.gcore = GcoreClient(
                http, rps=settings.gcore_rps, retries=settings.gcore_retries
            )
            app.state.sweeper = Sweeper(settings, app.state.ledger, app.state.gcore)
            app.state.sweeper_task = asyncio.create_task(app.state.sweeper.run(stop))
        log.info("service_started", sweeper=settings.sweeper, ledger=settings.database_label)
        # What is alive now (modules, pydantic schemas, the app) lives as long as we do: keep
        # it out of the cyclic collector's way. Each full collection walked all of it, a
        # ~30 ms pause every few thousand webhooks that set the ingest p99.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            stop.set()
            if app.state.sweeper_task is not None:
                try:
                    await asyncio.wait_for(app.state.sweeper_task, SHUTDOWN_GRACE)
                except TimeoutError:
                    # The pass was cancelled mid-step: hand its jobs back now rather than
                    # after the lease runs out, so another replica can take them at once.
                    released = await app.state.ledger.release_all(app.state.sweeper.owner)
                    log.warning("sweeper_shutdown_timeout", grace=SHUTDOWN_GRACE, released=released)
            if http is not None:
                await http.aclose()
            await app.state.group_commit.aclose()
            await app.state.ledger.stop_writer()
            if own_ledger:
                await app.state.ledger.aclose()
            log.info(
                "service_stopped",
                webhook_events=app.state.group_commit.events,
                webhook_transactions=app.state.group_commit.transactions,
            )

    webhooks = WebhookEndpoint()
    app = Service(
        allowed_networks=settings.allowed_networks,
        webhooks=webhooks,
        routes=[
            # Served by the WebhookGate ahead of the router; the route answers other methods.
            Route(WEBHOOK_ROUTE, webhooks, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    # Gcore does not follow redirects: a webhook URL with a stray slash is simply not ours.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.tokens = tokens.VerifiedTokens(settings.signing_keys)
    app.state.webhook_stats = Counter()
    return app
