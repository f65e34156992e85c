"""Webhook delivery, Gcore style: JSON POST, sent once, never retried, failures only logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from handler.simulator.clock import Clock
from handler.simulator.videos import Video

log = logging.getLogger(__name__)

_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class WebhookSender:
    """Owns the background tasks that deliver webhooks and the HTTP client they share."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered: list[dict[str, Any]] = []

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` in the background; keep a reference so it is not garbage collected."""
        if self.url is None:
            job.close()
            return
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, payload: dict[str, Any]) -> None:
        if self.url is None:
            return
        if self._client is None:
            # Created lazily: the app may run without a lifespan (e.g. httpx's ASGI transport).
            self._client = httpx.AsyncClient(timeout=_TIMEOUT)
        outcome: str
        try:
            response = await self._client.post(self.url, json=payload)
            outcome = str(response.status_code)
            if response.status_code >= 400:
                log.warning("webhook %s answered %s", payload.get("type"), response.status_code)
        except httpx.HTTPError as exc:
            # Gcore does not retry: a receiver that is down simply misses the event.
            outcome = type(exc).__name__
            log.warning("webhook %s not delivered: %s", payload.get("type"), outcome)
        self.delivered.append({"payload": payload, "outcome": outcome})

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def announce_lifecycle(
    sender: WebhookSender, clock: Clock, video: Video, alive: Callable[[], bool]
) -> None:
    """POST a ``video`` webhook at each status change, until the video is deleted."""
    for status, at in video.transitions():
        await asyncio.sleep(max(0.0, at - clock.now()))
        if not alive():
            return
        await sender.send(video.webhook(status, at))
