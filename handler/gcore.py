"""Async client for the few Gcore Streaming endpoints autosubs needs.

One httpx.AsyncClient is injected (opened once in the lifespan or the CLI); every call goes
through one outgoing rate limit. 429, 5xx and connection errors are retried with backoff,
honouring ``Retry-After``; errors a retry cannot fix fail at once with a reason a person can
act on. POSTs that create things are retried only when Gcore cannot have acted on them (429,
queue limit, a connection that never opened): anything ambiguous is raised, and the pipeline
looks on Gcore for what the request may have created before trying again.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
import structlog
from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handler.errors import GcoreError, GcoreUnavailable

log = structlog.get_logger(__name__)

_M = TypeVar("_M", bound=BaseModel)

TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
_MAX_RETRY_AFTER = 60.0
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 8.0
_LIST_PAGE_LIMIT = 100
_LIST_MAX_PAGES = 5


class _Model(BaseModel):
    # Gcore adds fields over time; unknown ones must never break us.
    model_config = ConfigDict(extra="allow")


class Rendition(_Model):
    id: int | None = None
    name: str | None = None
    width: int | None = None
    height: int | None = None
    status: str | None = None
    progress: int | None = None
    mp4_url: str | None = None


class Video(_Model):
    id: int
    name: str | None = None
    status: str | None = None
    error: str | None = None
    duration: int | None = None  # milliseconds
    converted_videos: list[Rendition] = Field(default_factory=list)


class Subtitle(_Model):
    id: int
    name: str | None = None
    language: str | None = None
    vtt: str | None = None


class TaskData(_Model):
    url: str | None = None
    audio_language: str | None = None
    subtitles_language: str | None = None
    client_user_id: str | None = None
    client_entity_data: str | None = None


class ProcessingTime(_Model):
    started_at: datetime | None = None
    completed_at: datetime | None = None
    total_time_sec: float | None = None


class AiTask(_Model):
    task_id: str
    status: str
    progress: int | None = None
    task_data: TaskData | None = None
    processing_time: ProcessingTime | None = None
    result: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        # Unknown statuses (RETRY, RECEIVED, anything new) are non-terminal on purpose.
        return self.status in TERMINAL_STATUSES


def error_text(response: httpx.Response) -> str:
    """Gcore's Streaming errors come in several shapes; find the human sentence in any."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])
        if "errors" in body:
            return str(body["errors"])[:200]
    return str(body)[:200]


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta or HTTP date)."""
    raw_ms = response.headers.get("retry-after-ms")
    if raw_ms:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None  # unreadable: fall back to our own backoff
        return parsed.timestamp() - time.time()


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Delay before retry number ``attempt`` (0-based): Retry-After when sane, else jittered."""
    if retry_after is not None and 0 <= retry_after <= _MAX_RETRY_AFTER:
        return retry_after
    return min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt) * random.uniform(0.75, 1.0)


def _is_queue_limit(response: httpx.Response) -> bool:
    return response.status_code == 400 and "queue limit" in error_text(response).lower()


class GcoreClient:
    """The Streaming endpoints autosubs uses, typed and with one retry policy."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        rps: float = 5.0,
        retries: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._http = http
        self._limiter = AsyncLimiter(max(rps, 1.0), 1.0) if rps >= 1 else AsyncLimiter(1, 1 / rps)
        self._retries = retries
        self._sleep = sleep
        self.calls: Counter[str] = Counter()  # "METHOD /path-template status" → count

    async def _request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        creates: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        attempt = 0
        while True:
            async with self._limiter:
                pass
            try:
                response = await self._http.request(method, path, json=json, params=params)
            except httpx.ConnectError as exc:
                # The request never reached Gcore: safe to retry even a create.
                self.calls[f"{endpoint} connect_error"] += 1
                if attempt >= self._retries:
                    raise GcoreUnavailable(
                        f"cannot reach Gcore: {exc}", method=method, path=path, retryable=True
                    ) from exc
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self.calls[f"{endpoint} transport_error"] += 1
                if creates or attempt >= self._retries:
                    raise GcoreUnavailable(
                        f"Gcore did not answer {method} {path}: {type(exc).__name__}",
                        method=method,
                        path=path,
                        retryable=True,
                        ambiguous=creates,
                    ) from exc
            else:
                self.calls[f"{endpoint} {response.status_code}"] += 1
                if response.status_code in ok:
                    return response
                # A create is never retried here: waiting out a Retry-After could outlive the
                # job's lease. Refused (429, queue limit), it goes back to the ledger's
                # schedule; with a 5xx its outcome is unknown, so the caller looks first.
                retryable = not creates and (
                    response.status_code == 429
                    or _is_queue_limit(response)
                    or response.status_code >= 500
                )
                if not retryable or attempt >= self._retries:
                    error = self._error(method, path, response)
                    error.ambiguous = creates and response.status_code >= 500
                    raise error
                delay = backoff_delay(attempt, retry_after_seconds(response))
                log.info(
                    "gcore_retry",
                    endpoint=endpoint,
                    status=response.status_code,
                    delay=round(delay, 3),
                    attempt=attempt + 1,
                )
                attempt += 1
                await self._sleep(delay)
                continue
            await self._sleep(backoff_delay(attempt, None))
            attempt += 1

    @staticmethod
    def _error(method: str, path: str, response: httpx.Response) -> GcoreError:
        status = response.status_code
        text = error_text(response)
        lowered = text.lower()
        if status == 401 or status == 403:
            message = f"Gcore rejected our API key ({status}: {text}): check GCORE_API_KEY"
            return GcoreError(message, status=status, method=method, path=path)
        if status == 422 and "feature is disabled" in lowered:
            message = "AI is not enabled on this account: ask Gcore support to enable it"
            return GcoreError(message, status=status, method=method, path=path)
        if status == 429 or status >= 500 or _is_queue_limit(response):
            return GcoreUnavailable(
                f"Gcore is busy ({status}: {text})",
                status=status,
                method=method,
                path=path,
                retryable=True,
            )
        return GcoreError(f"{status}: {text}", status=status, method=method, path=path)

    @staticmethod
    def _parse(model: type[_M], response: httpx.Response) -> _M:
        try:
            return model.model_validate(response.json())
        except (ValidationError, ValueError) as exc:
            raise GcoreUnavailable(
                f"unexpected answer from Gcore for {response.request.url.path}: {exc}",
                status=response.status_code,
                retryable=True,
            ) from exc

    async def get_video(self, video_id: int) -> Video:
        response = await self._request(
            "GET", f"/streaming/videos/{video_id}", endpoint="GET /videos/{id}"
        )
        return self._parse(Video, response)

    async def list_subtitles(self, video_id: int) -> list[Subtitle]:
        response = await self._request(
            "GET", f"/streaming/videos/{video_id}/subtitles", endpoint="GET /videos/{id}/subtitles"
        )
        try:
            return [Subtitle.model_validate(item) for item in response.json()]
        except (ValidationError, ValueError, TypeError) as exc:
            raise GcoreUnavailable(f"unexpected subtitle list from Gcore: {exc}") from exc

    async def create_subtitle(
        self, video_id: int, *, name: str, language: str, vtt: str
    ) -> Subtitle:
        response = await self._request(
            "POST",
            f"/streaming/videos/{video_id}/subtitles",
            endpoint="POST /videos/{id}/subtitles",
            json={"name": name, "language": language, "vtt": vtt},
            creates=True,
            ok=(200, 201),
        )
        return self._parse(Subtitle, response)

    async def delete_subtitle(self, video_id: int, subtitle_id: int) -> None:
        """Remove one of OUR tracks (a duplicate a late request left); 404 means it is gone."""
        try:
            await self._request(
                "DELETE",
                f"/streaming/videos/{video_id}/subtitles/{subtitle_id}",
                endpoint="DELETE /videos/{id}/subtitles/{id}",
                ok=(200, 204),
            )
        except GcoreError as exc:
            if exc.status != 404:
                raise

    async def create_task(
        self,
        *,
        url: str,
        audio_language: str | None,
        subtitles_language: str | None,
        client_user_id: str,
        client_entity_data: str,
    ) -> str:
        body: dict[str, Any] = {
            "task_name": "transcription",
            "url": url,
            "client_user_id": client_user_id,
            "client_entity_data": client_entity_data,
        }
        if audio_language:
            body["audio_language"] = audio_language
        if subtitles_language:
            body["subtitles_language"] = subtitles_language
        response = await self._request(
            "POST",
            "/streaming/ai/tasks",
            endpoint="POST /ai/tasks",
            json=body,
            creates=True,
            ok=(200, 201),
        )
        try:
            return str(response.json()["task_id"])
        except (KeyError, ValueError, TypeError) as exc:
            raise GcoreUnavailable(f"Gcore created a task but sent no task_id: {exc}") from exc

    async def get_task(self, task_id: str) -> AiTask:
        response = await self._request(
            "GET", f"/streaming/ai/tasks/{task_id}", endpoint="GET /ai/tasks/{id}"
        )
        return self._parse(AiTask, response)

    async def find_tasks(self, search: str, *, max_pages: int = _LIST_MAX_PAGES) -> list[AiTask]:
        """Tasks whose id, status or task_data contain ``search`` (our job marker)."""
        found: list[AiTask] = []
        for page in range(1, max_pages + 1):
            response = await self._request(
                "GET",
                "/streaming/ai/tasks",
                endpoint="GET /ai/tasks",
                params={"search": search, "page": page, "limit": _LIST_PAGE_LIMIT},
            )
            try:
                body = response.json()
                results = [AiTask.model_validate(item) for item in body.get("results") or []]
            except (ValidationError, ValueError, TypeError, AttributeError) as exc:
                raise GcoreUnavailable(f"unexpected task list from Gcore: {exc}") from exc
            found.extend(results)
            if not body.get("next") or not results:
                break
        return found

    async def cancel_task(self, task_id: str) -> bool:
        """Cancel a task; False when Gcore says it is already finished or gone."""
        try:
            await self._request(
                "POST",
                f"/streaming/ai/tasks/{task_id}/cancel",
                endpoint="POST /ai/tasks/{id}/cancel",
                ok=(200, 202),
            )
        except GcoreError as exc:
            if exc.status in (404, 412):
                return False
            raise
        return True

    async def language_supported(self, audio_language: str, subtitles_language: str) -> bool:
        response = await self._request(
            "GET",
            "/streaming/ai/info",
            endpoint="GET /ai/info",
            params={
                "type": "language_support",
                "audio_language": audio_language,
                "subtitles_language": subtitles_language,
            },
        )
        try:
            return bool(response.json()["supported"])
        except (KeyError, ValueError, TypeError) as exc:
            raise GcoreUnavailable(f"unexpected language-support answer: {exc}") from exc
