"""Rebuilding lost ledger state from Gcore itself (``autosubs recover``).

Every task we create carries our marker and the webhook profile in ``client_entity_data``;
every track we attach carries our name in its language. From those two facts a video's track
jobs can be put back in a state where the sweeper finishes them without creating anything
twice: a task that exists is polled (and its track adopted when the list shows it), a track
that exists is recorded as attached, and only what never started is started. The decisions
are pure functions; ``recover`` at the end is the thin I/O shell around them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import structlog

from handler import languages
from handler.errors import GcoreError
from handler.gcore import AiTask, GcoreClient
from handler.ledger import SPOKEN, LedgerProtocol, RestoredTrack
from handler.pipeline import MARKER, ExistingTrack, existing_tracks, parse_entity_data
from handler.tokens import Profile

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RecoveredVideo:
    video_id: int
    profile: Profile
    mp4_url: str | None
    source_language: str | None
    tracks: tuple[RestoredTrack, ...]


@dataclass(frozen=True, slots=True)
class OurTask:
    video_id: int
    target: str
    attempt: int
    profile: Profile
    task: AiTask


def our_tasks(tasks: list[AiTask]) -> dict[int, dict[str, OurTask]]:
    """Our tasks by video and target, keeping the latest attempt of each job."""
    found: dict[int, dict[str, OurTask]] = {}
    for task in tasks:
        parsed = parse_entity_data(task.task_data.client_entity_data if task.task_data else None)
        if parsed is None:
            continue
        video_id, target, attempt, profile = parsed
        current = found.setdefault(video_id, {}).get(target)
        if current is None or attempt > current.attempt:
            found[video_id][target] = OurTask(video_id, target, attempt, profile, task)
    return found


def _source_language(profile: Profile, jobs: dict[str, OurTask]) -> str | None:
    if profile.audio_language != languages.AUTO:
        return profile.audio_language
    for job in jobs.values():
        # Translations were started with the detected language as their audio language.
        if job.target != SPOKEN and job.task.task_data and job.task.task_data.audio_language:
            return job.task.task_data.audio_language
    return None


def _ours(existing: list[ExistingTrack], language: str) -> ExistingTrack | None:
    return next((t for t in existing if t.ours and t.language == language), None)


def plan_recovery(
    video_id: int, jobs: dict[str, OurTask], existing: list[ExistingTrack]
) -> RecoveredVideo:
    """The ledger rows that let the sweeper finish a video's work from where Gcore is."""
    latest = max(jobs.values(), key=lambda j: j.attempt)
    profile = latest.profile
    source = _source_language(profile, jobs)
    mp4_url = next(
        (j.task.task_data.url for j in jobs.values() if j.task.task_data and j.task.task_data.url),
        None,
    )
    tracks: list[RestoredTrack] = []
    spoken = jobs.get(SPOKEN)
    if spoken is not None:
        # Polled again: on SUCCESS the sweeper adopts our track if it is there, and settles
        # the translations that waited for the detected language.
        tracks.append(
            RestoredTrack(
                SPOKEN, "transcription", "task_started", profile.audio_language
                if profile.audio_language != languages.AUTO else None,
                task_id=spoken.task.task_id, attempts=spoken.attempt,
            )
        )  # fmt: skip
    else:
        fixed = source if profile.audio_language != languages.AUTO else None
        tracks.append(RestoredTrack(SPOKEN, "transcription", "planned", fixed))
    transcription_open = spoken is not None or source is None
    for code in profile.languages:
        if code == source and profile.audio_language != languages.AUTO:
            continue
        job = jobs.get(code)
        ours = _ours(existing, code)
        if ours is not None:
            tracks.append(
                RestoredTrack(code, "translation", "attached", code, subtitle_id=ours.subtitle_id,
                               task_id=job.task.task_id if job else None,
                               attempts=job.attempt if job else 0,
                               reason="recovered from Gcore")
            )  # fmt: skip
        elif job is not None:
            tracks.append(
                RestoredTrack(code, "translation", "task_started", code,
                               task_id=job.task.task_id, attempts=job.attempt)
            )  # fmt: skip
        elif profile.audio_language == languages.AUTO and transcription_open:
            tracks.append(RestoredTrack(code, "translation", "waiting", code))
        elif code == source:
            tracks.append(
                RestoredTrack(code, "translation", "skipped", code,
                               reason=f"same language as the source ({source})")
            )  # fmt: skip
        else:
            tracks.append(RestoredTrack(code, "translation", "planned", code))
    return RecoveredVideo(video_id, profile, mp4_url, source, tuple(tracks))


@dataclass(slots=True)
class RecoverySummary:
    videos: int = 0
    tracks: Counter[str] = field(default_factory=Counter)
    already_known: int = 0
    gone: int = 0


async def recover(
    ledger: LedgerProtocol, gcore: GcoreClient, *, max_pages: int = 20
) -> RecoverySummary:
    """Put back in the ledger every video our tasks on Gcore speak of and the ledger lacks.

    Reads only (task search, the video, its subtitles), then one ledger insert per video;
    the sweeper does the rest, creating only what never started.
    """
    summary = RecoverySummary()
    tasks = await gcore.find_tasks(f"{MARKER}:", max_pages=max_pages)
    for video_id, jobs in sorted(our_tasks(tasks).items()):
        if await ledger.get_video(video_id) is not None:
            summary.already_known += 1
            continue
        try:
            video = await gcore.get_video(video_id)
        except GcoreError as exc:
            if exc.status == 404:
                summary.gone += 1  # deleted since: nothing to finish
                continue
            raise
        existing = existing_tracks(await gcore.list_subtitles(video_id))
        plan = plan_recovery(video_id, jobs, existing)
        restored = await ledger.restore_video(
            video_id,
            plan.profile,
            mp4_url=plan.mp4_url,
            duration_s=(video.duration or 0) / 1000.0 or None,
            source_language=plan.source_language,
            existing=[e.as_dict() for e in existing],
            tracks=list(plan.tracks),
        )
        if restored:
            summary.videos += 1
            summary.tracks.update(t.state for t in plan.tracks)
            log.info("video_recovered", video_id=video_id,
                     tracks={t.target: t.state for t in plan.tracks})  # fmt: skip
        else:
            summary.already_known += 1
    return summary
