"""Fuzzing the webhook endpoint: random paths, tokens, headers and bodies.

Whatever arrives, the answer is never a 5xx, and nothing without a valid token is recorded
(so nothing can ever lead to a Gcore call). The service runs under uvicorn on loopback.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler import tokens
from handler.config import Settings
from tests.support.servers import serve_service

SECRET = "fuzz-secret"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
video_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["video", "video_delete", "stream", "restream", "", "x" * 100])},
    optional={
        "message": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"video": st.one_of(json_values, st.fixed_dictionaries({"id": json_values}))}
            ),
        )
    },
)
bodies = st.one_of(
    st.binary(max_size=512),
    json_values.map(lambda v: json.dumps(v).encode()),
    video_like.map(lambda v: json.dumps(v).encode()),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/xml",
     "APPLICATION/JSON", "multipart/form-data; boundary=x"]
)  # fmt: skip
path_kinds = st.sampled_from(["valid", "tampered", "random", "other"])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(
        secret_keys=SECRET,
        sweeper="off",
        database_url=f"sqlite:///{tmp / 'ledger.db'}",
        allowed_cidrs="127.0.0.1/32",
    )
    token = tokens.mint(tokens.Profile(languages=("fre",)), settings_.signing_keys)
    with serve_service(settings_) as url:
        yield url, token, tmp / "ledger.db"


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=path_kinds,
    noise=st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=60),
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    content_type=content_types,
    body=bodies,
    extra=st.dictionaries(
        st.sampled_from(["x-forwarded-for", "content-encoding", "x-custom", "transfer-encoding"]),
        st.from_regex(r"[!-~]([ -~]{0,28}[!-~])?", fullmatch=True),
        max_size=2,
    ),
)
def test_no_input_causes_a_5xx_or_records_without_a_token(
    service: tuple[str, str, Path],
    kind: str,
    noise: str,
    method: str,
    content_type: str,
    body: bytes,
    extra: dict[str, str],
) -> None:
    """Random requests: never 5xx; without a valid token never recorded."""
    url, token, ledger_path = service
    path = {
        "valid": f"/webhooks/gcore/{token}",
        "tampered": f"/webhooks/gcore/{token[:-3]}{noise[:3] or 'abc'}",
        "random": f"/webhooks/gcore/{httpx.URL('/' + noise).path.lstrip('/') or 'x'}",
        "other": f"/{httpx.URL('/' + noise).path.lstrip('/')}",
    }[kind]
    headers: dict[str, Any] = {"content-type": content_type, **extra}
    headers.pop("transfer-encoding", None)  # httpx frames the body itself
    if extra.get("content-encoding"):
        headers["content-encoding"] = "identity"
    before = _count(ledger_path)
    response = httpx.request(method, url + path, content=body, headers=headers, timeout=10)
    after = _count(ledger_path)
    assert response.status_code < 500, (path, response.status_code, response.text)
    valid = kind == "valid" and method == "POST"
    if not valid:
        assert after == before, (kind, response.status_code)
    if kind == "tampered" and not token.endswith(noise[:3] or "abc"):
        assert response.status_code in (404, 405)


def _count(ledger_path: Path) -> int:
    """Webhooks recorded so far, read through a connection of our own."""
    with contextlib.closing(sqlite3.connect(ledger_path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
