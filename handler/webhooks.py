"""The webhook route: verify, parse, record in the ledger, answer 202. Nothing slow.

Order of checks (the source address is checked before this, in ``WebhookGate``):
token signature (404) → Content-Type JSON (415) → body ≤ 64 KiB (413) → payload (400).
Nothing is recorded until all of them pass, and no Gcore call is ever made here: the
sweeper re-fetches the video with our own key before acting on it. A ``video`` event is
recorded through the app's group commit (``handler.group_commit``) and answered 202 once
its transaction has committed; if the ledger fails, 503 and nothing is promised. Other
event types are answered 200 and ignored.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Annotated, Any, Literal, NotRequired

import structlog
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import State
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from typing_extensions import TypedDict  # pydantic wants it on Python < 3.12

from handler import pipeline, tokens
from handler.config import IPNetwork
from handler.errors import LedgerError
from handler.ledger import VideoEvent
from handler.logs import hot_info

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
WEBHOOK_PREFIX = "/webhooks/"
GCORE_WEBHOOK_PREFIX = "/webhooks/gcore/"
WEBHOOK_ROUTE = GCORE_WEBHOOK_PREFIX + "{token}"
VIDEO_TYPES = ("video", "video_delete")
_BOM = b"\xef\xbb\xbf"


class Rendition(TypedDict, total=False):
    name: str | None
    status: str | None
    mp4_url: str | None


class Video(TypedDict):
    # Both ledgers keep video ids as signed 64-bit integers.
    id: Annotated[int, Field(gt=0, lt=2**63, strict=True)]
    status: NotRequired[str | None]
    converted_videos: NotRequired[list[Rendition]]


class VideoMessage(TypedDict):
    video: Video


class VideoWebhook(TypedDict):
    """A webhook the route records. Other keys, anywhere, are allowed and ignored."""

    type: Literal["video", "video_delete"]
    message: VideoMessage


# TypedDicts, not models: validated straight from the JSON bytes into plain dicts, in a
# third of the time a model with extra="allow" takes (this runs on every webhook).
_VIDEO_WEBHOOK = TypeAdapter(VideoWebhook)


class Envelope(BaseModel):
    """Any webhook Gcore sends: a type and a message."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=64)
    message: dict[str, Any]


def problem(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    if err["type"] == "json_invalid":
        return "body is not JSON"
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def parse(body: bytes) -> VideoWebhook | Response:
    """The webhook to record, or the answer to a body that is not one (400, or 200 ignored).

    One pass decides. A body it refuses is looked at again, envelope first, to answer in
    the envelope's words and to tell other event types (ignored) from errors.
    """
    body = body.removeprefix(_BOM)
    try:
        return _VIDEO_WEBHOOK.validate_json(body)
    except ValidationError as exc:
        refused = exc
    try:
        envelope = Envelope.model_validate(json.loads(body))
    except ValidationError as exc:
        return problem(400, _first_error(exc))
    except (ValueError, RecursionError):
        return problem(400, "body is not JSON")
    if envelope.type not in VIDEO_TYPES:
        return JSONResponse({"ignored": envelope.type}, status_code=200)
    return problem(400, _first_error(refused))


def due_in(video: Video) -> float:
    """How soon the sweeper should look: now if the event says something is playable."""
    status = video.get("status")
    playable = status in ("viewable", "ready") or any(
        r.get("status") == "complete" and r.get("mp4_url")
        for r in video.get("converted_videos", ())
    )
    return 0.0 if playable else pipeline.rendition_recheck_in(status)


class WebhookEndpoint:
    """``POST /webhooks/gcore/{token}``, a plain ASGI app rather than a Request/Response one.

    It is the hot path of the service, and Starlette's Request, its body stream and the
    Response classes cost as much as the checks themselves. So it reads the two headers it
    needs off the scope, the body off ``receive``, and sends a pre-encoded 202; the rarer
    answers are ordinary Starlette responses.

    A 202 has no body: what it says (the video id, and whether the video is new to the
    ledger) travels in two headers, written with the status line. A body would be a second
    write(2) per webhook, about 8 % of the route's throughput, for a sender that reads
    nothing but the status.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        try:
            response = await self._handle(state, scope, receive)
        except Exception:
            # What Starlette's ServerErrorMiddleware would do, which this route runs ahead
            # of (see app.Service): log it, answer 500 (nothing was sent yet), re-raise for
            # the server's own report.
            state.webhook_stats["failed_error"] += 1
            log.exception("webhook_error")
            await problem(500, "internal error")(scope, receive, send)
            raise
        if response is None:
            return  # the client went away while we read its body: no one to answer
        if isinstance(response, list):
            await send({"type": "http.response.start", "status": 202, "headers": response})
            await send({"type": "http.response.body", "body": b""})
            return
        await response(scope, receive, send)

    async def _handle(
        self, state: State, scope: Scope, receive: Receive
    ) -> Response | list[tuple[bytes, bytes]] | None:
        """The answer: a response, the headers of a 202, or None when the client is gone."""
        stats: Counter[str] = state.webhook_stats
        token: str = scope["path_params"]["token"]
        try:
            profile, fp = state.tokens.verify(token)
        except tokens.InvalidToken:
            stats["rejected_token"] += 1
            log.warning("webhook_rejected", reason="bad token", token_fp=tokens.fingerprint(token))
            return problem(404, "not found")
        content_type, declared_length = _headers(scope)
        if content_type.split(";")[0].strip().lower() != "application/json":
            stats["rejected_content_type"] += 1
            return problem(415, "Content-Type must be application/json")
        try:
            body = await _read_body(receive, declared_length)
        except _Disconnected:
            return None
        if body is None:
            stats["rejected_size"] += 1
            return problem(413, f"body larger than {MAX_BODY} bytes")
        webhook = parse(body)
        if isinstance(webhook, Response):
            stats["ignored" if webhook.status_code == 200 else "rejected_payload"] += 1
            return webhook
        kind, video = webhook["type"], webhook["message"]["video"]
        video_id, status = video["id"], video.get("status")
        try:
            if kind == "video_delete":
                stopped = await state.ledger.record_video_delete(video_id, token_fp=fp)
            else:
                event = VideoEvent(video_id, profile, status, due_in(video), fp)
                new = await state.group_commit.record(event)
        except LedgerError as exc:
            stats["failed_ledger"] += 1
            log.warning("webhook_failed", reason=str(exc), video_id=video_id, token_fp=fp)
            return problem(503, "ledger unavailable, try again")
        sweeper = getattr(state, "sweeper", None)
        if sweeper is not None:
            sweeper.wake()
        # The canonical line of the webhook. Its fields are passed rather than bound with
        # bound_contextvars: nothing else logs in this request, and binding costs as much as
        # the line itself. hot_info: structlog's per-call cost was a sixth of the route's.
        # A ``video`` event's line is written by the group commit, with its batch.
        if kind == "video_delete":
            stats["accepted_delete"] += 1
            hot_info("webhook_accepted", type=kind, video_id=video_id, stopped=stopped,
                     token_fp=fp)  # fmt: skip
            return [_CONTENT_LENGTH_0, (VIDEO_ID_HEADER, b"%d" % video_id)]
        stats["accepted_video"] += 1  # its canonical line comes with its batch's commit
        return [_CONTENT_LENGTH_0, (VIDEO_ID_HEADER, b"%d" % video_id), _NEW_HEADER[new]]


VIDEO_ID_HEADER = b"x-autosubs-video-id"
_NEW_HEADER = {True: (b"x-autosubs-new", b"true"), False: (b"x-autosubs-new", b"false")}
_CONTENT_LENGTH_0 = (b"content-length", b"0")


class _Disconnected(Exception):
    pass


def _headers(scope: Scope) -> tuple[str, bytes | None]:
    """Content-Type (or "") and Content-Length (or None), first of each, as Starlette reads them."""
    content_type: bytes | None = None
    length: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"content-type" and content_type is None:
            content_type = value
        elif name == b"content-length" and length is None:
            length = value
    return (content_type or b"").decode("latin-1"), length


async def _read_body(receive: Receive, declared: bytes | None) -> bytes | None:
    """The body, or None as soon as it grows past MAX_BODY (never buffer an attacker's GBs)."""
    if declared is not None:
        try:
            if int(declared) > MAX_BODY:
                return None
        except ValueError:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class WebhookGate:
    """Pure ASGI gate in front of the app: the source allow-list, and the hot path.

    Webhook requests from outside the allow-list get 403, body unread. ``scope["client"]``
    is already the real peer: uvicorn rewrites it from X-Forwarded-For only for the proxies
    we list in ``forwarded_allow_ips``.

    ``POST /webhooks/gcore/{token}`` then goes straight to ``endpoint``, not through
    Starlette's middleware, router and route: those layers cost about a tenth of a webhook,
    and the endpoint needs none of them (it answers its own errors; the one route is matched
    here, exactly as the router's pattern would). Every other request, including other
    methods on the webhook path (405) and anything under a root path, goes to ``app``.
    """

    def __init__(
        self,
        app: ASGIApp,
        networks: list[IPNetwork] | None,
        *,
        endpoint: ASGIApp | None = None,
        remember: int = 1024,
    ) -> None:
        self.app = app
        self.networks = networks
        self.endpoint = endpoint
        # Parsing an address costs more than the rest of the gate; the same few senders
        # come back all the time. Bounded: oldest out first.
        self._remember = remember
        self._decided: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(WEBHOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        if self.networks is not None and not self._allowed(scope.get("client")):
            response = problem(403, "source address not allowed")
            await response(scope, receive, send)
            return
        token = _webhook_token(scope)
        if token is None or self.endpoint is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"token": token}
        await self.endpoint(scope, receive, send)

    def _allowed(self, client: tuple[str, int] | None) -> bool:
        if not client or self.networks is None:
            return self.networks is None
        allowed = self._decided.get(client[0])
        if allowed is None:
            allowed = _in_networks(client[0], self.networks)
            if len(self._decided) >= self._remember:
                del self._decided[next(iter(self._decided))]
            self._decided[client[0]] = allowed
        return allowed


def _webhook_token(scope: Scope) -> str | None:
    """The token of a ``POST /webhooks/gcore/{token}``, matched as the route matches it."""
    if scope["method"] != "POST" or scope.get("root_path"):
        return None
    token: str = scope["path"][len(GCORE_WEBHOOK_PREFIX) :]
    if not scope["path"].startswith(GCORE_WEBHOOK_PREFIX) or not token or "/" in token:
        return None
    return token


def _in_networks(host: str, networks: list[IPNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
