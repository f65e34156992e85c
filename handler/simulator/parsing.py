"""Tolerant request parsing shared by the route modules."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handler.simulator.state import SimState

Handler = Callable[[Request], Awaitable[Response]]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class BadJSON(ValueError):
    """The body is not JSON."""


def sim_state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


async def json_body(request: Request) -> Any:
    """The parsed body; an empty body counts as ``{}`` (clients often send none on POST)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadJSON(str(exc)) from exc


def int_or_none(value: object) -> int | None:
    """An integer from a path/query/body value that may arrive as text; None if it is not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def dispatch(**handlers: Handler) -> Handler:
    """One endpoint per path that routes on the method, so a wrong method is a JSON 405
    (as Django REST framework answers) rather than a plain-text one."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return JSONResponse(
                {"detail": f'Method "{request.method}" not allowed.'},
                status_code=405,
                headers={"Allow": ", ".join(handlers)},
            )
        return await handler(request)

    return endpoint


def route(path: str, **handlers: Handler) -> Route:
    """A route that takes every method and answers unsupported ones with a JSON 405."""
    return Route(path, dispatch(**handlers), methods=ALL_METHODS)
