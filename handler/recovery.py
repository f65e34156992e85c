"""Rebuilding lost ledger state from Gcore itself: pure decisions, no I/O.

Every task we create carries our marker and the webhook profile in ``client_entity_data``;
every track we attach carries our name in its language. From those two facts a video's track
jobs can be put back in a state where the sweeper finishes them without creating anything
twice: a task that exists is polled (and its track adopted when the list shows it), a track
that exists is recorded as attached, and only what never started is started.
"""

from __future__ import annotations

from dataclasses import dataclass

from handler import languages
from handler.gcore import AiTask
from handler.ledger import SPOKEN
from handler.pipeline import ExistingTrack, parse_entity_data
from handler.tokens import Profile


@dataclass(frozen=True, slots=True)
class RecoveredTrack:
    target: str
    kind: str
    state: str
    language: str | None = None
    task_id: str | None = None
    subtitle_id: int | None = None
    attempts: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RecoveredVideo:
    video_id: int
    profile: Profile
    mp4_url: str | None
    source_language: str | None
    tracks: tuple[RecoveredTrack, ...]


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
    tracks: list[RecoveredTrack] = []
    spoken = jobs.get(SPOKEN)
    if spoken is not None:
        # Polled again: on SUCCESS the sweeper adopts our track if it is there, and settles
        # the translations that waited for the detected language.
        tracks.append(
            RecoveredTrack(
                SPOKEN, "transcription", "task_started", profile.audio_language
                if profile.audio_language != languages.AUTO else None,
                task_id=spoken.task.task_id, attempts=spoken.attempt,
            )
        )  # fmt: skip
    else:
        fixed = source if profile.audio_language != languages.AUTO else None
        tracks.append(RecoveredTrack(SPOKEN, "transcription", "planned", fixed))
    transcription_open = spoken is not None or source is None
    for code in profile.languages:
        if code == source and profile.audio_language != languages.AUTO:
            continue
        job = jobs.get(code)
        ours = _ours(existing, code)
        if ours is not None:
            tracks.append(
                RecoveredTrack(code, "translation", "attached", code, subtitle_id=ours.subtitle_id,
                               task_id=job.task.task_id if job else None,
                               attempts=job.attempt if job else 0,
                               reason="recovered from Gcore")
            )  # fmt: skip
        elif job is not None:
            tracks.append(
                RecoveredTrack(code, "translation", "task_started", code,
                               task_id=job.task.task_id, attempts=job.attempt)
            )  # fmt: skip
        elif profile.audio_language == languages.AUTO and transcription_open:
            tracks.append(RecoveredTrack(code, "translation", "waiting", code))
        elif code == source:
            tracks.append(
                RecoveredTrack(code, "translation", "skipped", code,
                               reason=f"same language as the source ({source})")
            )  # fmt: skip
        else:
            tracks.append(RecoveredTrack(code, "translation", "planned", code))
    return RecoveredVideo(video_id, profile, mp4_url, source, tuple(tracks))
