"""Simulated VOD entities: transcoding lifecycle derived from elapsed time, and their JSON."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from handler.simulator.clock import Clock

EMPTY, PENDING, VIEWABLE, READY = "empty", "pending", "viewable", "ready"

# Seconds (before time_scale) from creation until the file is received and queued.
_PENDING_AFTER = 1.0
# Audio is part of every rendition; it only matters for the file sizes we report.
_AUDIO_KBPS = 64
_ORIGIN_KBPS = 2_500


@dataclass(frozen=True, slots=True)
class RenditionPlan:
    """One rung of the quality ladder and when (unscaled seconds) its transcode finishes."""

    name: str
    width: int
    height: int
    kbps: int
    # Real file names carry the encoded height, which can differ from the nominal one
    # (Gcore's own example: a "vod480p" rendition stored as ..._800_468.mp4).
    file_height: int
    qid: int
    done_after: float


# The lowest rung finishes first (video becomes "viewable"); 720p finishes last ("ready").
# The 480p rung deliberately completes after "viewable", so a client that prefers it must
# wait for "ready" or poll.
LADDER: tuple[RenditionPlan, ...] = (
    RenditionPlan("vod360p", 640, 360, 450, 360, 5774, 2.5),
    RenditionPlan("vod480p", 854, 480, 800, 468, 3573, 3.5),
    RenditionPlan("vod720p", 1280, 720, 1566, 720, 3570, 6.0),
)


@dataclass(slots=True)
class Rendition:
    id: int
    plan: RenditionPlan
    mp4_url: str
    starts_at: float
    done_at: float

    def complete(self, now: float) -> bool:
        return now >= self.done_at

    def progress(self, now: float) -> int:
        if self.complete(now):
            return 100
        span = self.done_at - self.starts_at
        return max(0, min(99, int((now - self.starts_at) / span * 100))) if span > 0 else 0

    def size(self, duration_ms: int) -> int:
        return (self.plan.kbps + _AUDIO_KBPS) * 1000 // 8 * duration_ms // 1000


@dataclass(slots=True)
class Video:
    id: int
    name: str
    slug: str
    client_id: int
    duration_ms: int
    spoken_language: str
    speech: bool
    created_at: float
    pending_at: float
    renditions: list[Rendition]
    base_url: str
    description: str | None = None
    origin_url: str | None = None
    client_user_id: int | None = None

    @classmethod
    def create(
        cls,
        *,
        video_id: int,
        name: str,
        client_id: int,
        public_host: str,
        now: float,
        time_scale: float,
        duration_ms: int,
        spoken_language: str,
        speech: bool,
        next_rendition_id: Callable[[], int],
        description: str | None = None,
        origin_url: str | None = None,
        client_user_id: int | None = None,
    ) -> Video:
        slug = "".join(random.Random(video_id).choices(string.ascii_letters + string.digits, k=16))
        base_url = f"{public_host}/videos/{client_id}_{slug}"
        pending_at = now + _PENDING_AFTER * time_scale
        renditions = [
            Rendition(
                id=next_rendition_id(),
                plan=plan,
                mp4_url=f"{base_url}/qid{plan.qid}v1_h264_{plan.kbps}_{plan.file_height}.mp4",
                starts_at=pending_at,
                done_at=now + plan.done_after * time_scale,
            )
            for plan in LADDER
        ]
        return cls(
            id=video_id,
            name=name,
            slug=slug,
            client_id=client_id,
            duration_ms=duration_ms,
            spoken_language=spoken_language,
            speech=speech,
            created_at=now,
            pending_at=pending_at,
            renditions=renditions,
            base_url=base_url,
            description=description,
            origin_url=origin_url,
            client_user_id=client_user_id,
        )

    def transitions(self) -> list[tuple[str, float]]:
        """Each status with the moment it is entered, in order: what webhooks announce."""
        done = sorted(r.done_at for r in self.renditions)
        return [
            (EMPTY, self.created_at),
            (PENDING, self.pending_at),
            (VIEWABLE, max(self.pending_at, done[0])),
            (READY, max(self.pending_at, done[-1])),
        ]

    def status(self, now: float) -> str:
        current = EMPTY
        for status, at in self.transitions():
            if now >= at:
                current = status
        return current

    def _updated_at(self, now: float) -> float:
        return max(at for _, at in self.transitions() if at <= now)

    def rendition_by_url(self, url: str) -> Rendition | None:
        return next((r for r in self.renditions if r.mp4_url == url), None)

    def _converted(self, now: float) -> list[Rendition]:
        return self.renditions if now >= self.pending_at else []

    def details(self, now: float, clock: Clock) -> dict[str, Any]:
        """``videoDetails`` as ``GET /streaming/videos/{id}`` returns it."""
        status = self.status(now)
        playable = status in (VIEWABLE, READY)
        screenshots = (
            [f"{self.base_url}/thumbnails/{self.id}_{self.slug}_{i}_720.jpg" for i in range(5)]
            if playable
            else []
        )
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "client_id": self.client_id,
            "slug": self.slug,
            "status": status,
            "duration": self.duration_ms,
            "origin_video_duration": self.duration_ms,
            "origin_size": _ORIGIN_KBPS * 1000 // 8 * self.duration_ms // 1000,
            "origin_url": self.origin_url,
            "created_at": clock.iso(self.created_at),
            "updated_at": clock.iso(self._updated_at(now)),
            "client_user_id": self.client_user_id,
            "directory_id": None,
            "quality_set_id": None,
            "priority": 0,
            "record_type": None,
            "projection": "regular",
            "views": 0,
            "cdn_views": 0,
            "hls_url": f"{self.base_url}/master.m3u8",
            "hls_cmaf_url": f"{self.base_url}/master-cmaf.m3u8",
            "dash_url": f"{self.base_url}/master.mpd",
            "iframe_url": self.base_url.replace("/videos/", "/player/videos/", 1),
            "screenshots": screenshots,
            "screenshot_id": 0,
            "converted_videos": [
                {
                    "id": r.id,
                    "name": r.plan.name,
                    "width": r.plan.width,
                    "height": r.plan.height,
                    "size": r.size(self.duration_ms) if r.complete(now) else None,
                    "progress": r.progress(now),
                    "status": "complete" if r.complete(now) else "processing",
                    "error": None,
                    "mp4_url": r.mp4_url,
                }
                for r in self._converted(now)
            ],
        }
        if screenshots:
            body["screenshot"] = screenshots[0]
        if self.description is not None:
            body["description"] = self.description
        return body

    def webhook(self, status: str, at: float) -> dict[str, Any]:
        """The ``video`` webhook body Gcore posts on entering ``status`` at ``at``."""
        return {
            "type": "video",
            "message": {
                "video": {
                    "id": self.id,
                    "slug": self.slug,
                    "name": self.name,
                    "duration": self.duration_ms,
                    "stream_id": None,
                    "status": status,
                    "converted_videos": [
                        {
                            "name": r.plan.name,
                            "status": "complete" if r.complete(at) else "processing",
                            "mp4_url": r.mp4_url,
                        }
                        for r in self._converted(at)
                    ],
                }
            },
        }

    def delete_webhook(self, at: float, clock: Clock) -> dict[str, Any]:
        return {
            "type": "video_delete",
            "message": {
                "video": {
                    "id": self.id,
                    "slug": self.slug,
                    "name": self.name,
                    "status": self.status(at),
                    "deleted_at": clock.iso(at),
                }
            },
        }
