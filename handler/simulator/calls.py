"""Log of every Gcore API request the simulator answered, for tests to count and validate."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from handler.simulator.state import SimState

API_PREFIX = "/streaming"
# Bodies beyond this are logged as null: a 3-hour VTT polled repeatedly adds up.
_MAX_LOGGED_BODY = 1024 * 1024


def _parsed(raw: bytes) -> Any:
    if not raw or len(raw) > _MAX_LOGGED_BODY:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _redacted(name: str, value: str) -> str:
    # The scheme word stays visible (tests check it), the key itself never enters the log.
    if name == "authorization":
        scheme, _, token = value.partition(" ")
        return f"{scheme} <redacted>" if token else "<redacted>"
    return value


class CallRecorder:
    """Outermost middleware: sees the request as sent and the response as answered,
    including 401s and injected faults."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        started = self.state.now()
        body = await _read_body(receive)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        response: dict[str, Any] = {"status": 500, "headers": {}, "body": bytearray()}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                response["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay, capture)
        finally:
            self.state.calls.append(_record(scope, body, response, started))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _record(scope: Scope, body: bytes, response: dict[str, Any], started: float) -> dict[str, Any]:
    raw_query = scope.get("query_string", b"").decode("latin-1")
    headers = {
        k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
    }
    return {
        "method": scope["method"],
        "path": scope["path"],
        "query": dict(parse_qsl(raw_query, keep_blank_values=True)),
        "url": scope["path"] + (f"?{raw_query}" if raw_query else ""),
        "headers": {k: _redacted(k, v) for k, v in headers.items()},
        "body": _parsed(body),
        "status": response["status"],
        "response_headers": response["headers"],
        "response_body": _parsed(bytes(response["body"])),
        "t": round(started, 4),
    }
