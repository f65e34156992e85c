"""Simulated AI tasks: a precomputed timeline of statuses, read lazily against the clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from handler.simulator.captions import Cue, talk_cues, transcription_result
from handler.simulator.clock import Clock

RECEIVED, PENDING, STARTED, RETRY = "RECEIVED", "PENDING", "STARTED", "RETRY"
SUCCESS, FAILURE, REVOKED = "SUCCESS", "FAILURE", "REVOKED"
TERMINAL = frozenset({SUCCESS, FAILURE, REVOKED})


class Fate(Enum):
    """How a task will end, decided when it is created."""

    TRANSCRIBE = "transcribe"  # SUCCESS with cues (or without, if the video has no speech)
    NO_SPEECH = "no_speech"  # SUCCESS, speech_detected false
    BAD_SOURCE = "bad_source"  # FAILURE as soon as the worker fetches the URL
    BAD_PAIR = "bad_pair"  # FAILURE after language identification
    CRASH = "crash"  # FAILURE after an internal RETRY


@dataclass(frozen=True, slots=True)
class Phase:
    status: str
    start: float
    end: float
    progress_from: int
    progress_to: int

    def progress(self, now: float) -> int:
        span = self.end - self.start
        if span <= 0:
            return self.progress_to
        fraction = min(1.0, max(0.0, (now - self.start) / span))
        return int(self.progress_from + (self.progress_to - self.progress_from) * fraction)


@dataclass(frozen=True, slots=True)
class Source:
    """What the AI worker hears: the video as it was when the task was created."""

    duration_ms: int
    speech: bool


@dataclass(slots=True)
class Task:
    task_id: str
    task_data: dict[str, Any]
    created_at: float
    seq: int
    fate: Fate
    phases: list[Phase]
    ends_at: float
    output_language: str | None = None
    source: Source | None = None
    error: str | None = None
    vtt_newlines: bool = True
    video_id: int | None = None
    revoked_at: float | None = None
    _result: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def task_name(self) -> str:
        return str(self.task_data.get("task_name", "transcription"))

    def _stop(self) -> float:
        return self.revoked_at if self.revoked_at is not None else self.ends_at

    def status(self, now: float) -> str:
        if self.revoked_at is not None and now >= self.revoked_at:
            return REVOKED
        if now >= self.ends_at:
            return FAILURE if self.error else SUCCESS
        current = self.phases[0].status
        for phase in self.phases:
            if now >= phase.start:
                current = phase.status
        return current

    def terminal(self, now: float) -> bool:
        return self.status(now) in TERMINAL

    def progress(self, now: float) -> int:
        status = self.status(now)
        if status == SUCCESS:
            return 100
        at = min(now, self._stop())
        current = 0
        for phase in self.phases:
            if at >= phase.start:
                current = phase.progress(at)
        return current

    def processing_began(self) -> float | None:
        """When the first STARTED phase begins (None if the task never gets that far)."""
        return next((p.start for p in self.phases if p.status == STARTED), None)

    def finish(self, now: float) -> None:
        """End the task now with its planned fate (tests use this to skip the wait)."""
        if self.terminal(now):
            return
        kept = [p for p in self.phases if p.start <= now]
        last = kept[-1]
        kept[-1] = Phase(last.status, last.start, now, last.progress_from, last.progress(now))
        self.phases = kept
        self.ends_at = now

    def cancel(self, now: float) -> None:
        self.revoked_at = now

    def result(self, now: float) -> dict[str, Any] | None:
        status = self.status(now)
        if status == FAILURE:
            return {"error": self.error or "Task failed."}
        if status != SUCCESS:
            return None
        if self._result is None:
            self._result = self._build_result()
        return self._result

    def _build_result(self) -> dict[str, Any]:
        cues: list[Cue] = []
        source, language = self.source, self.output_language
        if self.fate is Fate.TRANSCRIBE and source is not None and source.speech and language:
            cues = talk_cues(source.duration_ms, language)
        # The spec: an explicitly requested language "will be copied here"; a detected one can
        # only be reported when there was speech to detect it from.
        explicit = self.task_data.get("subtitles_language") or self.task_data.get("audio_language")
        if cues and language:
            languages = [language]
        else:
            languages = [explicit] if isinstance(explicit, str) else []
        return transcription_result(cues, languages, vtt_newlines=self.vtt_newlines)

    def to_json(self, now: float, clock: Clock, *, with_result: bool = True) -> dict[str, Any]:
        terminal = self.terminal(now)
        stop = self._stop()
        # Gcore's started_at is when a worker took the task up ("video processing start"),
        # not when it was queued; total_time_sec runs from there to the end.
        began = self.processing_began()
        processing: dict[str, Any] = {
            "completed_at": clock.iso(stop) if terminal else None,
            "total_time_sec": round(stop - (began or self.created_at), 3) if terminal else None,
        }
        if began is not None and began <= min(now, stop):
            processing["started_at"] = clock.iso(began)
        body: dict[str, Any] = {
            "task_id": self.task_id,
            "task_name": self.task_name,
            "status": self.status(now),
            "progress": self.progress(now),
            "task_data": dict(self.task_data),
            "processing_time": processing,
        }
        if with_result:
            body["result"] = self.result(now)
        return body


@dataclass(frozen=True, slots=True)
class Timing:
    """Unscaled seconds that shape a task's timeline."""

    received: float
    queued: float
    processing: float
    regroup: float

    @classmethod
    def draw(cls, task_id: str, duration_ms: int, *, translation: bool) -> Timing:
        # Seeded by the task id: the same task always takes the same time, different tasks
        # differ, which is what makes polling strategies observable in tests.
        rng = random.Random(task_id)
        received = rng.uniform(0.3, 1.0)
        queued = received + rng.uniform(1.7, 7.0)
        factor = rng.uniform(0.25, 0.5) * (1.15 if translation else 1.0)
        processing = max(3.0, duration_ms / 1000 * factor)
        return cls(received, queued, processing, rng.uniform(0.5, 2.0))


def plan_phases(
    created_at: float, timing: Timing, fate: Fate, *, auto_language: bool, scale: float
) -> tuple[list[Phase], float]:
    """The statuses a task passes through, and when it ends; all durations scaled."""
    work = timing.processing
    steps: list[tuple[str, float, int]] = [
        (RECEIVED, timing.received, 0),
        (PENDING, timing.queued - timing.received, 0),
    ]
    if fate is Fate.BAD_SOURCE:
        steps.append((STARTED, 0.5, 1))
    elif fate is Fate.BAD_PAIR:
        steps.append((STARTED, 0.1 * work, 10))
    elif fate is Fate.CRASH:
        steps += [(STARTED, 0.3 * work, 30), (RETRY, 0.1 * work, 30), (STARTED, 0.2 * work, 50)]
    elif auto_language:
        # Language identification runs first, then the task waits again for a transcription
        # worker: Gcore documents this STARTED -> PENDING -> STARTED dip.
        steps += [
            (STARTED, 0.1 * work, 10),
            (PENDING, timing.regroup, 10),
            (STARTED, 0.9 * work, 99),
        ]
    else:
        steps.append((STARTED, work, 99))
    phases: list[Phase] = []
    at, progress = created_at, 0
    for status, seconds, progress_to in steps:
        end = at + seconds * scale
        phases.append(Phase(status, at, end, progress, progress_to))
        at, progress = end, progress_to
    return phases, at
