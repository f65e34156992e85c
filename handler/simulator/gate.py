"""Front door of the Gcore API paths: API-key check, then injected HTTP faults."""

from __future__ import annotations

import math

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from handler.simulator.errors import QUEUE_LIMIT_TEXT, ai_error, unauthorized
from handler.simulator.state import SimState

API_PREFIX = "/streaming"


def auth_problem(header: str | None, api_key: str) -> str | None:
    """Gcore's 401 text for this Authorization header, or None if it is accepted."""
    if not header or not header.strip():
        return "Authentication credentials were not provided."
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "apikey":
        return "Given token not valid for any token type"
    if token.strip() != api_key:
        return "Token is invalid or expired"
    return None


def _retry_after(seconds: float) -> dict[str, str]:
    # HTTP wants whole seconds; tests want sub-second waits, so fractional values are sent
    # as they are, and retry-after-ms (honoured by Gcore's SDKs) carries the exact value.
    whole = float(seconds).is_integer()
    return {
        "Retry-After": str(int(seconds)) if whole else f"{seconds:g}",
        "retry-after-ms": str(math.ceil(seconds * 1000)),
    }


class Gate:
    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        response = self._refusal(scope)
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        problem = auth_problem(headers.get("authorization"), self.state.config.api_key)
        if problem is not None:
            return unauthorized(problem)
        fault = self.state.faults.take_http(scope["method"], scope["path"])
        if fault == "http_429":
            return JSONResponse(
                {"error": "Too many requests, try later."},
                status_code=429,
                headers=_retry_after(self.state.faults.retry_after),
            )
        if fault == "http_500":
            return JSONResponse({"error": "Internal server error"}, status_code=500)
        if fault == "queue_limit":
            return ai_error(QUEUE_LIMIT_TEXT)
        return None
