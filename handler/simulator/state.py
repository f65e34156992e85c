"""The simulated account: videos, subtitle tracks, AI tasks, faults and the request log.

Everything lives in memory and is only touched from the server's event loop, so no locks.
Statuses are never stored: they are computed from the clock whenever someone asks.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from handler.languages import pair_plausible
from handler.simulator.ai_tasks import TERMINAL, Fate, Source, Task, Timing, plan_phases
from handler.simulator.clock import Clock
from handler.simulator.config import SimulatorConfig
from handler.simulator.faults import Faults
from handler.simulator.subtitles import Subtitle
from handler.simulator.videos import Rendition, Video
from handler.simulator.webhooks import WebhookSender, announce_lifecycle

QUEUE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """What an upload says about the file: the simulator's stand-in for the media itself."""

    name: str
    duration_ms: int = 120_000
    spoken_language: str = "eng"
    speech: bool = True
    description: str | None = None
    origin_url: str | None = None
    client_user_id: int | None = None


@dataclass(slots=True)
class SimState:
    config: SimulatorConfig
    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    videos: dict[int, Video] = field(default_factory=dict)
    subtitles: dict[int, dict[int, Subtitle]] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    sender: WebhookSender = field(init=False)
    # Realistic-looking, distinct id ranges so a mixed-up id is a 404, not a wrong hit.
    _video_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_428_001))
    _rendition_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(25_889_801)
    )
    _subtitle_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_001))
    _task_seq: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.sender = WebhookSender(self.config.webhook_url)

    def now(self) -> float:
        return self.clock.now()

    # --- videos -------------------------------------------------------------------------

    def create_video(self, spec: VideoSpec) -> Video:
        video = Video.create(
            video_id=next(self._video_ids),
            name=spec.name,
            client_id=self.config.client_id,
            public_host=self.config.public_host,
            now=self.now(),
            time_scale=self.config.time_scale,
            duration_ms=spec.duration_ms,
            spoken_language=spec.spoken_language,
            speech=spec.speech,
            next_rendition_id=lambda: next(self._rendition_ids),
            description=spec.description,
            origin_url=spec.origin_url,
            client_user_id=spec.client_user_id,
        )
        self.videos[video.id] = video
        self.subtitles[video.id] = {}
        self.sender.spawn(
            announce_lifecycle(self.sender, self.clock, video, lambda: video.id in self.videos)
        )
        return video

    def delete_video(self, video_id: int) -> bool:
        video = self.videos.pop(video_id, None)
        if video is None:
            return False
        # Deleting a video deletes its subtitles (Gcore docs).
        self.subtitles.pop(video_id, None)
        self.sender.spawn(self.sender.send(video.delete_webhook(self.now(), self.clock)))
        return True

    def find_rendition(self, url: str) -> tuple[Video, Rendition] | None:
        """The rendition an MP4 URL points at; query strings (secure tokens) are ignored."""
        parts = urlsplit(url)
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        for video in self.videos.values():
            rendition = video.rendition_by_url(bare)
            if rendition is not None:
                return video, rendition
        return None

    # --- subtitles ----------------------------------------------------------------------

    def add_subtitle(self, video_id: int, name: str, language: str, vtt: str) -> Subtitle:
        track = Subtitle(next(self._subtitle_ids), video_id, name, language, vtt)
        self.subtitles[video_id][track.id] = track
        return track

    # --- AI tasks -----------------------------------------------------------------------

    def queued_tasks(self) -> int:
        now = self.now()
        return sum(1 for task in self.tasks.values() if task.status(now) not in TERMINAL)

    def create_task(self, task_data: dict[str, Any]) -> Task:
        """Accept a validated transcription request and decide, up front, how it will end."""
        now = self.now()
        task_id = str(uuid.uuid4())
        url = str(task_data["url"])
        audio = task_data.get("audio_language")
        target = task_data.get("subtitles_language")
        fate, error, source, language, video_id = Fate.TRANSCRIBE, None, None, None, None

        found = self.find_rendition(url)
        if found is None:
            fate = Fate.BAD_SOURCE
            is_mp4 = urlsplit(url).path.lower().endswith(".mp4")
            error = (
                f"Failed to download file: {url} (HTTP 404 Not Found)"
                if is_mp4
                else f"Unsupported file type: {url}"
            )
        else:
            video, rendition = found
            video_id = video.id
            if not rendition.complete(now):
                # The CDN has nothing to serve until the rendition is transcoded.
                fate, error = (
                    Fate.BAD_SOURCE,
                    f"Failed to download file: {url} (HTTP 404 Not Found)",
                )
            else:
                source = Source(video.duration_ms, video.speech)
                spoken = audio or video.spoken_language
                language = target or spoken
                if target and not pair_plausible(spoken, target):
                    fate = Fate.BAD_PAIR
                    error = (
                        "Language pair is not supported for automatic translation: "
                        f"{spoken} => {target}"
                    )

        injected = self.faults.take_task_faults()
        if "task_failure" in injected:
            fate, error = Fate.CRASH, "Internal error: task failed after 1 retry (injected fault)"
        elif "no_speech" in injected and fate is Fate.TRANSCRIBE:
            fate = Fate.NO_SPEECH

        duration_ms = source.duration_ms if source else 0
        timing = Timing.draw(task_id, duration_ms, translation=bool(target))
        phases, ends_at = plan_phases(
            now, timing, fate, auto_language=audio is None, scale=self.config.time_scale
        )
        task = Task(
            task_id=task_id,
            task_data={**task_data, "client_id": self.config.client_id},
            created_at=now,
            seq=next(self._task_seq),
            fate=fate,
            phases=phases,
            ends_at=ends_at,
            output_language=language,
            source=source,
            error=error,
            vtt_newlines="vtt_no_newlines" not in injected,
            video_id=video_id,
        )
        self.tasks[task_id] = task
        return task

    # --- inspection ---------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Everything, as of now, for ``GET /_sim/state``."""
        now = self.now()
        return {
            "now": now,
            "time_scale": self.config.time_scale,
            "videos": [
                {
                    **video.details(now, self.clock),
                    "spoken_language": video.spoken_language,
                    "speech": video.speech,
                }
                for video in self.videos.values()
            ],
            "subtitles": {
                str(video_id): [track.to_json() for track in tracks.values()]
                for video_id, tracks in self.subtitles.items()
            },
            "tasks": [
                {
                    **task.to_json(now, self.clock, with_result=False),
                    "video_id": task.video_id,
                    "fate": task.fate.value,
                    "ends_at": task.ends_at,
                }
                for task in self.tasks.values()
            ],
            "faults": self.faults.snapshot(),
            "webhooks": list(self.sender.delivered),
        }
