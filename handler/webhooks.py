"""The webhook route: verify, parse, record in the ledger, answer 202. Nothing slow.

Order of checks (the source address is checked before this, in ``SourceAllowList``):
token signature (404) → Content-Type JSON (415) → body ≤ 64 KiB (413) → payload (400).
Nothing is recorded until all of them pass, and no Gcore call is ever made here: the
sweeper re-fetches the video with our own key before acting on it.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from handler import pipeline, tokens
from handler.config import IPNetwork

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
WEBHOOK_PREFIX = "/webhooks/"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class WebhookRendition(_Lenient):
    name: str | None = None
    status: str | None = None
    mp4_url: str | None = None


class WebhookVideo(_Lenient):
    id: int = Field(gt=0, strict=True)
    status: str | None = None
    converted_videos: list[WebhookRendition] = Field(default_factory=list)


class VideoMessage(_Lenient):
    video: WebhookVideo


class Envelope(_Lenient):
    type: str = Field(min_length=1, max_length=64)
    message: dict[str, Any]


def problem(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def due_in(video: WebhookVideo) -> float:
    """How soon the sweeper should look: now if the event says something is playable."""
    playable = video.status in ("viewable", "ready") or any(
        r.status == "complete" and r.mp4_url for r in video.converted_videos
    )
    return 0.0 if playable else pipeline.rendition_recheck_in(video.status)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None as soon as it grows past MAX_BODY (never buffer an attacker's GBs)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY:
                return None
        except ValueError:
            return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_webhook(request: Request) -> JSONResponse:
    state = request.app.state
    stats: Counter[str] = state.webhook_stats
    token = request.path_params["token"]
    try:
        profile = tokens.verify(token, state.settings.signing_keys)
    except tokens.InvalidToken:
        stats["rejected_token"] += 1
        log.warning("webhook_rejected", reason="bad token", token_fp=tokens.fingerprint(token))
        return problem(404, "not found")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        stats["rejected_content_type"] += 1
        return problem(415, "Content-Type must be application/json")
    body = await _read_body(request)
    if body is None:
        stats["rejected_size"] += 1
        return problem(413, f"body larger than {MAX_BODY} bytes")
    try:
        envelope = Envelope.model_validate(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        stats["rejected_payload"] += 1
        reason = _first_error(exc) if isinstance(exc, ValidationError) else "body is not JSON"
        return problem(400, reason)
    fp = tokens.fingerprint(token)
    if envelope.type not in ("video", "video_delete"):
        stats["ignored"] += 1
        return JSONResponse({"ignored": envelope.type}, status_code=200)
    try:
        video = VideoMessage.model_validate(envelope.message).video
    except ValidationError as exc:
        stats["rejected_payload"] += 1
        return problem(400, f"message.{_first_error(exc)}")
    ledger = state.ledger
    with structlog.contextvars.bound_contextvars(video_id=video.id, event=envelope.type):
        if envelope.type == "video_delete":
            stopped = await ledger.record_video_delete(video.id, token_fp=fp)
            stats["accepted_delete"] += 1
            log.info("webhook_accepted", stopped=stopped, token_fp=fp)
            _wake(request)
            return JSONResponse({"accepted": True, "video_id": video.id}, status_code=202)
        new = await ledger.record_video_event(
            video.id, profile, event_status=video.status, due_in=due_in(video), token_fp=fp
        )
        stats["accepted_video"] += 1
        log.info("webhook_accepted", status=video.status, new=new, token_fp=fp)
    _wake(request)
    return JSONResponse({"accepted": True, "video_id": video.id, "new": new}, status_code=202)


def _wake(request: Request) -> None:
    sweeper = getattr(request.app.state, "sweeper", None)
    if sweeper is not None:
        sweeper.wake()


class SourceAllowList:
    """Pure ASGI gate: webhook requests from outside the allow-list get 403, body unread.

    ``scope["client"]`` is already the real peer: uvicorn rewrites it from X-Forwarded-For
    only for the proxies we list in ``forwarded_allow_ips``.
    """

    def __init__(self, app: ASGIApp, networks: list[IPNetwork] | None) -> None:
        self.app = app
        self.networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.networks is not None
            and scope["path"].startswith(WEBHOOK_PREFIX)
            and not self._allowed(scope.get("client"))
        ):
            response = problem(403, "source address not allowed")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, client: tuple[str, int] | None) -> bool:
        if not client or self.networks is None:
            return self.networks is None
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
