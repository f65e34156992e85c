"""Assemble the simulator: routes, middleware order and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handler.simulator import api_ai, api_control, api_subtitles, api_videos
from handler.simulator.calls import CallRecorder
from handler.simulator.config import SimulatorConfig
from handler.simulator.errors import not_found
from handler.simulator.gate import Gate
from handler.simulator.parsing import ALL_METHODS
from handler.simulator.state import SimState


async def _unknown_api_path(request: Request) -> Response:
    # Gcore answers unknown API paths with its JSON 404, not a bare text page.
    return not_found()


def create_simulator_app(config: SimulatorConfig) -> Starlette:
    """A fresh simulated Gcore account; ``app.state.sim`` exposes it to in-process callers."""
    state = SimState(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.sender.aclose()

    routes = [
        *api_ai.routes,
        *api_subtitles.routes,
        *api_videos.routes,
        *api_control.routes,
        Route("/streaming/{rest:path}", _unknown_api_path, methods=ALL_METHODS),
    ]
    # The recorder sits outside the gate so 401s and injected faults are logged too.
    middleware = [Middleware(CallRecorder, state=state), Middleware(Gate, state=state)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.sim = state
    return app
