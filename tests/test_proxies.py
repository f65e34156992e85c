"""Source allow-list behind a proxy, through the same uvicorn configuration ``serve`` uses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from handler import tokens
from handler.config import Settings
from tests.support.servers import serve_service

SECRET = "proxy-test-secret"
PAYLOAD = {"type": "video", "message": {"video": {"id": 42, "status": "pending"}}}


def _settings(tmp_path: Path, trusted: str) -> Settings:
    return Settings(
        secret_keys=SECRET,
        sweeper="off",
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        allowed_cidrs="92.223.112.0/24",
        trusted_proxies=trusted,
        host="127.0.0.1",
        port=0,
    )


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "status"),
    [
        ("127.0.0.1", "92.223.112.9", 202),  # our proxy vouches for a Gcore sender
        ("127.0.0.1", "203.0.113.7", 403),  # our proxy, but the sender is not Gcore
        ("127.0.0.1", "92.223.112.9, 203.0.113.7", 403),  # rightmost untrusted hop counts
        ("", "92.223.112.9", 403),  # nobody trusted: a forged header changes nothing
        ("10.0.0.0/8", "92.223.112.9", 403),  # the peer is not one of the trusted proxies
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, trusted: str, forwarded_for: str, status: int
) -> None:
    """X-Forwarded-For decides the source only when the peer is a configured proxy."""
    settings = _settings(tmp_path, trusted)
    token = tokens.mint(tokens.Profile(languages=("fre",)), settings.signing_keys)
    with serve_service(settings) as url:
        response = httpx.post(
            f"{url}/webhooks/gcore/{token}",
            json=PAYLOAD,
            headers={"X-Forwarded-For": forwarded_for},
        )
    assert response.status_code == status, response.text


def test_probes_are_not_behind_the_allow_list(tmp_path: Path) -> None:
    """Health probes answer from anywhere; only webhook paths are gated by source."""
    with serve_service(_settings(tmp_path, "")) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200
        metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200
    assert "autosubs_videos" in metrics.text
