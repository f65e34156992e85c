"""What to do next for a video and for each track: pure decisions, no I/O.

The sweeper gathers facts (the video, its subtitles, a task's status) and asks these
functions what they mean; everything here is a function of its arguments, ``now`` included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from handler import languages, subtitles
from handler.gcore import Rendition, Subtitle, Video
from handler.ledger import SPOKEN, NewTrack
from handler.tokens import Profile

MARKER = "autosubs"
_EARLY_PROGRESS = 30  # below this a progress rate is too young to aim the last poll with
_RENDITION_RECHECK = 60.0  # seconds between looks at a video whose MP4 is not ready yet


# --- renditions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenditionChoice:
    rendition: Rendition | None
    wait: bool
    reason: str = ""


def choose_rendition(video: Video, preferred_height: int) -> RenditionChoice:
    """Pick the MP4 to send to Gcore AI: the one closest to ``preferred_height``.

    Gcore advises a low rendition (smaller download, same audio). While a closer rendition
    is still being transcoded, wait for it; once the video is ready, take the best complete.
    """
    if video.status == "error" and not any(r.status == "complete" for r in video.converted_videos):
        return RenditionChoice(None, wait=False, reason=f"video failed on Gcore: {video.error}")
    # A complete rendition without an MP4 URL can never be used: do not wait for it.
    usable = [
        r
        for r in video.converted_videos
        if r.status != "error" and r.height and (r.status != "complete" or r.mp4_url)
    ]

    def distance(r: Rendition) -> tuple[int, int]:
        height = r.height or 0
        # Equal distance: the lower rendition is the cheaper download.
        return (abs(height - preferred_height), height)

    complete = [r for r in usable if r.status == "complete" and r.mp4_url]
    if not complete:
        # Audio-only or height-less renditions still carry the speech.
        fallback = [r for r in video.converted_videos if r.status == "complete" and r.mp4_url]
        if fallback and video.status == "ready":
            return RenditionChoice(fallback[0], wait=False)
        if video.status == "ready" and not fallback:
            return RenditionChoice(
                None,
                wait=False,
                reason="the video has no MP4 rendition: ask Gcore support to enable MP4 delivery",
            )
        return RenditionChoice(None, wait=True, reason="no complete MP4 rendition yet")
    best_complete = min(complete, key=distance)
    best_overall = min(usable, key=distance)
    if distance(best_overall) < distance(best_complete) and video.status != "ready":
        return RenditionChoice(None, wait=True, reason=f"waiting for rendition {best_overall.name}")
    return RenditionChoice(best_complete, wait=False)


def rendition_recheck_in(event_status: str | None) -> float:
    """When to look at a video again if its webhook said it is not playable yet.

    The next webhook (viewable/ready) brings the check forward; this is the fallback for
    a webhook Gcore never re-sends.
    """
    return _RENDITION_RECHECK if event_status in ("empty", "pending", None) else 0.0


# --- planning ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExistingTrack:
    language: str
    subtitle_id: int
    ours: bool

    def as_dict(self) -> dict[str, Any]:
        return {"language": self.language, "id": self.subtitle_id, "ours": self.ours}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExistingTrack:
        return cls(str(data["language"]), int(data["id"]), bool(data["ours"]))


def is_ours(subtitle: Subtitle, language: str) -> bool:
    """Our tracks are recognised by exactly the name we give them, in their language."""
    return subtitle.language == language and subtitle.name == languages.track_name(language)


def existing_tracks(subtitles: list[Subtitle]) -> list[ExistingTrack]:
    out: list[ExistingTrack] = []
    for sub in subtitles:
        if not sub.language:
            continue
        out.append(ExistingTrack(sub.language, sub.id, is_ours(sub, sub.language)))
    return out


def settle_language(language: str, existing: list[ExistingTrack]) -> NewTrack | None:
    """An already attached track decides a language: adopt ours, or leave a foreign one alone."""
    ours = [t for t in existing if t.language == language and t.ours]
    if ours:
        return NewTrack(
            target=language,
            kind="",
            state="attached",
            language=language,
            reason="adopted an existing autosubs track",
            subtitle_id=ours[0].subtitle_id,
        )
    if any(t.language == language for t in existing):
        return NewTrack(
            target=language, kind="", state="skipped", language=language, reason="exists"
        )
    return None


def plan_tracks(
    profile: Profile, existing: list[ExistingTrack], supported: dict[tuple[str, str], bool]
) -> list[NewTrack]:
    """The track jobs for a video whose MP4 is ready.

    With a fixed audio language everything starts at once; with ``auto`` the translations
    wait for the transcription to say which language is spoken.
    """
    if profile.audio_language == languages.AUTO:
        plans = [NewTrack(target=SPOKEN, kind="transcription", state="planned")]
        plans += [
            NewTrack(target=code, kind="translation", state="waiting", language=code)
            for code in profile.languages
        ]
        return plans
    source = profile.audio_language
    plans = []
    settled = settle_language(source, existing)
    plans.append(
        NewTrack(
            target=SPOKEN,
            kind="transcription",
            state=settled.state if settled else "planned",
            language=source,
            reason=settled.reason if settled else None,
            subtitle_id=settled.subtitle_id if settled else None,
        )
    )
    for code in profile.languages:
        if code == source:
            continue  # the transcription is the track in this language: nothing to pay for
        settled = settle_language(code, existing)
        if settled:
            plans.append(_as_translation(settled))
        elif not supported.get((source, code), True):
            plans.append(
                NewTrack(
                    target=code,
                    kind="translation",
                    state="skipped",
                    language=code,
                    reason=f"unsupported: Gcore cannot translate {source} => {code}",
                )
            )
        else:
            plans.append(NewTrack(target=code, kind="translation", state="planned", language=code))
    return plans


def _as_translation(track: NewTrack) -> NewTrack:
    return NewTrack(
        target=track.target,
        kind="translation",
        state=track.state,
        language=track.language,
        reason=track.reason,
        subtitle_id=track.subtitle_id,
    )


def pairs_to_check(profile: Profile, source: str | None) -> list[tuple[str, str]]:
    """Language pairs whose support must be asked before translating from ``source``."""
    if source is None:
        return []
    return [(source, code) for code in profile.languages if code != source]


def settle_translations(
    targets: list[str],
    *,
    source: str | None,
    outcome: str,
    existing: list[ExistingTrack],
    supported: dict[tuple[str, str], bool],
) -> dict[str, tuple[str, str | None]]:
    """After the transcription: which waiting translations start, and which end here.

    ``outcome`` is "ok", "no_speech" or "failed: <reason>".
    """
    decisions: dict[str, tuple[str, str | None]] = {}
    for code in targets:
        if outcome == "no_speech":
            decisions[code] = ("skipped", "no_speech")
        elif outcome != "ok" or source is None:
            decisions[code] = ("failed", f"transcription did not finish: {outcome}")
        elif code == source:
            decisions[code] = ("skipped", f"same language as the source ({source})")
        elif (settled := settle_language(code, existing)) and settled.state == "skipped":
            decisions[code] = ("skipped", "exists")
        elif not supported.get((source, code), True):
            decisions[code] = ("skipped", f"unsupported: Gcore cannot translate {source} => {code}")
        else:
            # An adopted track of ours is found again by the list before attaching.
            decisions[code] = ("planned", None)
    return decisions


# --- tasks ---------------------------------------------------------------------------------


def job_marker(video_id: int, target: str, attempt: int) -> str:
    """What identifies our task on Gcore (``client_user_id``, searchable)."""
    key = "src" if target == SPOKEN else target
    return f"{MARKER}:{video_id}:{key}:{attempt}"


def entity_data(video_id: int, target: str, attempt: int, profile: Profile) -> str:
    """``client_entity_data``: our job key plus the profile, so a lost ledger can be rebuilt
    from Gcore alone (``autosubs recover``)."""
    return json.dumps(
        {
            "autosubs": 1,
            "video_id": video_id,
            "target": target,
            "attempt": attempt,
            "profile": profile.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


def parse_entity_data(text: str | None) -> tuple[int, str, int, Profile] | None:
    """The job key and profile from one of our tasks, or None for anyone else's."""
    try:
        data = json.loads(text or "")
        if not isinstance(data, dict) or data.get("autosubs") != 1:
            return None
        profile = Profile.model_validate(data["profile"])
        return int(data["video_id"]), str(data["target"]), int(data["attempt"]), profile
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(slots=True)
class TaskTimeModel:
    """Expected task duration from the video's length, learnt from finished tasks.

    Gcore's processing time is roughly proportional to the video's length plus queue time;
    the first poll is placed by this estimate, later polls by the task's own progress.
    """

    seconds_per_second: float = 0.4
    base: float = 5.0
    samples: int = 0

    def expected(self, duration_s: float | None) -> float:
        return self.base + self.seconds_per_second * (duration_s or 60.0)

    def learn(self, duration_s: float | None, total_s: float) -> None:
        if not duration_s or duration_s <= 0 or total_s <= 0:
            return
        ratio = max(0.0, total_s - self.base) / duration_s
        weight = 1.0 / min(self.samples + 2, 20)
        self.seconds_per_second += weight * (ratio - self.seconds_per_second)
        self.samples += 1


def next_poll_delay(
    *,
    progress: int | None,
    running_for: float | None,
    created_ago: float,
    expected_total: float,
    floor: float,
    ceiling: float,
    previous_progress: int | None = None,
    since_previous: float | None = None,
    paused: bool = False,
    two_stage: bool = False,
) -> float:
    """Seconds until the next look at an unfinished task.

    With two progress readings, their rate is extrapolated to 100 %; with one, the rate since
    Gcore started processing (``processing_time.started_at``, ``running_for``). Either way we
    look just after the predicted end. Without progress, aim a little before the expected
    finish (tasks spread about ±35 % around it), or half the elapsed time again when past it.
    """
    rate = 0.0
    single_reading = True
    if progress and progress > 0:
        if previous_progress and progress > previous_progress and since_previous:
            rate = (progress - previous_progress) / since_previous
            single_reading = False
        elif running_for and running_for > 0:
            rate = progress / running_for
    if rate > 0:
        remaining = max(0.0, (100 - (progress or 0)) / rate)
        # A hair past the predicted end: progress is a truncated integer, so the rate is
        # slightly underestimated already; a larger margin only adds latency.
        delay = remaining + 0.005 * (created_ago + remaining) + 0.2
        if paused or (progress or 0) < _EARLY_PROGRESS or (two_stage and single_reading):
            # Between sub-stages, this early, or with only one reading of a task that dips
            # (Gcore: STARTED -> PENDING -> STARTED after language identification, so the
            # rate since started_at includes the dip), the rate says little: look again
            # halfway and aim the last poll with two readings.
            delay = 0.5 * remaining
    else:
        left = expected_total - created_ago
        delay = 0.6 * left if left > floor else max(created_ago * 0.5, floor)
    return min(max(delay, floor), ceiling)


def retry_delay(attempt: int, base: float = 30.0, cap: float = 900.0) -> float:
    """Delay before re-creating a failed task, or before retrying after a transient error."""
    return min(cap, base * 2 ** max(0, attempt - 1))


def failure_reason(result: dict[str, Any] | None, status: str) -> str:
    if result and isinstance(result.get("error"), str):
        return f"{status}: {result['error']}"
    return f"{status} without a reason from Gcore"


def detected_language(result: dict[str, Any], requested: str | None) -> str | None:
    """The spoken language: what we asked for, else the most frequent one Gcore detected."""
    if requested:
        return requested
    found = result.get("languages") or []
    for code in found:
        try:
            return languages.normalise_code(str(code))
        except languages.UnknownLanguage:
            continue
    return None


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackText:
    """What a successful task gives us to attach: a WebVTT text, or the reason there is none."""

    vtt: str | None
    source: str  # "vttContent", "subtitles[]" or "none"
    qc: dict[str, Any] | None = None

    @property
    def no_speech(self) -> bool:
        return self.vtt is None


def track_text(result: dict[str, Any], language: str, preset: str) -> TrackText:
    """Turn a SUCCESS result into the WebVTT we attach.

    Gcore's ``vttContent`` is used when it is valid WebVTT; otherwise (the spec's own example
    has no newlines) the track is rebuilt from ``subtitles[]``. The cues then go through the
    QC normaliser of the profile's preset. No speech, or nothing left after the hallucination
    filter, means no track, never an empty one.
    """
    if result.get("speech_detected") is False:
        return TrackText(None, "none")
    cues: list[subtitles.Cue] = []
    source = "none"
    vtt_content = result.get("vttContent")
    if isinstance(vtt_content, str) and not subtitles.validate_vtt(vtt_content):
        try:
            cues = subtitles.parse_vtt(vtt_content)
            source = "vttContent"
        except subtitles.VttError:
            cues = []
    if not cues:
        segments = result.get("subtitles") or []
        if isinstance(segments, list):
            cues = subtitles.from_gcore_segments(segments)
            source = "subtitles[]"
    cues = [cue for cue in cues if cue.text.strip()]
    if not cues:
        return TrackText(None, "none")
    # Every track, transcription and translation alike, is re-flowed and checked for its
    # own language before anyone reads it; hallucinated lines are removed and reported.
    cues, report = subtitles.normalise(cues, language, preset)
    if not cues:
        return TrackText(None, source, report.as_dict())
    return TrackText(subtitles.to_vtt(cues), source, report.as_dict())
