"""The source allow-list gate (webhooks.SourceAllowList) in front of a tiny ASGI app."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from handler.webhooks import SourceAllowList

NETWORKS = [ipaddress.ip_network("92.223.112.0/24"), ipaddress.ip_network("2001:db8::/32")]


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _status(gate: SourceAllowList, host: str, path: str = "/webhooks/gcore/t") -> int:
    transport = httpx.ASGITransport(app=gate, client=(host, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://autosubs.test") as c:
        return (await c.post(path)).status_code


@pytest.mark.parametrize("remember", [1, 2, 1024])
async def test_verdicts_hold_whatever_it_remembers(remember: int) -> None:
    """Senders inside and outside the list, over and over: each gets its verdict every
    time, however few verdicts the gate keeps."""
    gate = SourceAllowList(_ok, NETWORKS, remember=remember)
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
    assert await _status(SourceAllowList(_ok, NETWORKS), "203.0.113.7", "/healthz") == 202
    assert await _status(SourceAllowList(_ok, None), "203.0.113.7") == 202
