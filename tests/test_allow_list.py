"""The webhook gate (webhooks.WebhookGate): source allow-list and the direct webhook path."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from handler.webhooks import WebhookGate

NETWORKS = [ipaddress.ip_network("92.223.112.0/24"), ipaddress.ip_network("2001:db8::/32")]


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _status(gate: WebhookGate, host: str, path: str = "/webhooks/gcore/t") -> int:
    transport = httpx.ASGITransport(app=gate, client=(host, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://autosubs.test") as c:
        return (await c.post(path)).status_code


@pytest.mark.parametrize("remember", [1, 2, 1024])
async def test_verdicts_hold_whatever_it_remembers(remember: int) -> None:
    """Senders inside and outside the list, over and over: each gets its verdict every
    time, however few verdicts the gate keeps."""
    gate = WebhookGate(_ok, NETWORKS, remember=remember)
    senders = {
        "92.223.112.9": 202,
        "203.0.113.7": 403,
        "::ffff:92.223.112.10": 202,  # IPv4-mapped IPv6
        "2001:db8::1": 202,
        "2001:db9::1": 403,
        "not-an-address": 403,
    }
    for _ in range(3):
        for host, status in senders.items():
            assert await _status(gate, host) == status, host


async def test_only_webhook_paths_are_gated() -> None:
    """Probes answer whoever asks; with ``*`` (no networks) nothing is gated."""
    assert await _status(WebhookGate(_ok, NETWORKS), "203.0.113.7", "/healthz") == 202
    assert await _status(WebhookGate(_ok, None), "203.0.113.7") == 202


async def test_webhook_posts_go_straight_to_the_endpoint() -> None:
    """POST /webhooks/gcore/{token} reaches the endpoint with its token; every other
    request (other methods, other paths, deeper paths, a root path) goes down the stack."""
    seen: list[tuple[str, str, str | None]] = []

    def recorder(name: str, status: int) -> Any:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            seen.append((name, scope["method"], scope.get("path_params", {}).get("token")))
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return app

    gate = WebhookGate(recorder("stack", 404), NETWORKS, endpoint=recorder("endpoint", 202))
    transport = httpx.ASGITransport(app=gate, client=("92.223.112.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://autosubs.test") as c:
        assert (await c.post("/webhooks/gcore/tok.en-1")).status_code == 202
        assert (await c.get("/webhooks/gcore/tok.en-1")).status_code == 404
        assert (await c.post("/webhooks/gcore/")).status_code == 404
        assert (await c.post("/webhooks/gcore/a/b")).status_code == 404
        assert (await c.post("/webhooks/other/x")).status_code == 404
        assert (await c.post("/healthz")).status_code == 404
    assert seen == [
        ("endpoint", "POST", "tok.en-1"),
        ("stack", "GET", None),
        ("stack", "POST", None),
        ("stack", "POST", None),
        ("stack", "POST", None),
        ("stack", "POST", None),
    ]
    under_root = httpx.ASGITransport(app=gate, client=("92.223.112.9", 5000), root_path="/x")
    async with httpx.AsyncClient(transport=under_root, base_url="http://autosubs.test") as c:
        assert (await c.post("/webhooks/gcore/t")).status_code == 404
    # Outside the list: refused before anything else sees it, whichever way it would go.
    outside = httpx.ASGITransport(app=gate, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=outside, base_url="http://autosubs.test") as c:
        assert (await c.post("/webhooks/gcore/t")).status_code == 403
        assert (await c.get("/webhooks/gcore/t")).status_code == 403
    assert len(seen) == 7


async def test_the_endpoint_answers_its_own_errors_with_a_500() -> None:
    """The webhook route runs ahead of Starlette's error middleware: an unexpected error
    inside it is still a 500 with a short reason (and re-raised for the server's log)."""
    from collections import Counter

    from starlette.applications import Starlette

    from handler import tokens
    from handler.webhooks import WebhookEndpoint

    keys = ["k"]
    app = Starlette()
    app.state.tokens = tokens.VerifiedTokens(keys)
    app.state.webhook_stats = Counter()  # and no ledger at all: recording fails
    token = tokens.mint(tokens.Profile(languages=("fre",)), keys)
    endpoint = WebhookEndpoint()

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app
        scope["path_params"] = {"token": token}
        await endpoint(scope, receive, send)

    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://autosubs.test") as c:
        response = await c.post("/", json={"type": "video", "message": {"video": {"id": 7}}})
    assert (response.status_code, response.json()) == (500, {"error": "internal error"})
    assert app.state.webhook_stats["failed_error"] == 1
