"""Turn the sample talk into an ASR result for a video of any length and any language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handler.languages import name_of
from handler.simulator.transcripts import (
    CUE_TIMES_MS,
    HALLUCINATION,
    HALLUCINATION_GAP_MS,
    HALLUCINATION_LENGTH_MS,
    TALK,
    TALK_PERIOD_MS,
)

# A cue cut shorter than this by the end of the video is dropped, as Whisper would.
_MIN_CUE_MS = 300
_MIN_HALLUCINATION_MS = 1_000


@dataclass(frozen=True, slots=True)
class Cue:
    start_ms: int
    end_ms: int
    text: str


def _marked(language: str, english: str) -> str:
    # Languages without a hand translation get the English line tagged with the target
    # language, so a test can still tell which language a track claims to be.
    return f"[{name_of(language)}] {english}"


def cue_text(language: str, index: int) -> str:
    lines = TALK.get(language)
    if lines is not None:
        return lines[index]
    return _marked(language, TALK["eng"][index])


def hallucination_text(language: str) -> str:
    return HALLUCINATION.get(language) or _marked(language, HALLUCINATION["eng"])


def talk_cues(duration_ms: int, language: str) -> list[Cue]:
    """The talk in ``language``, cycled to fill ``duration_ms``, plus the trailing artefact.

    A three-hour video therefore gets ~90 repetitions (~2,400 cues): large, like a real
    long result, and still deterministic.
    """
    cues: list[Cue] = []
    for offset in range(0, max(duration_ms, 0), TALK_PERIOD_MS):
        for index, (start, end) in enumerate(CUE_TIMES_MS):
            cue_start, cue_end = offset + start, min(offset + end, duration_ms)
            if cue_end - cue_start < _MIN_CUE_MS:
                break
            cues.append(Cue(cue_start, cue_end, cue_text(language, index)))
    if not cues:
        return cues
    start = cues[-1].end_ms + HALLUCINATION_GAP_MS
    end = min(start + HALLUCINATION_LENGTH_MS, duration_ms)
    if end - start >= _MIN_HALLUCINATION_MS:
        cues.append(Cue(start, end, hallucination_text(language)))
    return cues


def timestamp(ms: int) -> str:
    """``HH:MM:SS.mmm``, the format of Gcore's ``subtitles[].start_time`` and of WebVTT."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1_000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def to_vtt(cues: list[Cue]) -> str:
    """WebVTT as Gcore returns it in ``vttContent``: numbered cues, blank-line separated."""
    parts = ["WEBVTT\n\n"]
    for number, cue in enumerate(cues, start=1):
        parts.append(f"{number}\n{timestamp(cue.start_ms)} --> {timestamp(cue.end_ms)}\n")
        parts.append(f"{cue.text}\n\n")
    return "".join(parts)


def transcription_result(
    cues: list[Cue], languages: list[str], *, vtt_newlines: bool = True
) -> dict[str, Any]:
    """The ``result`` object of a successful transcription or translation task."""
    vtt = to_vtt(cues)
    if not vtt_newlines:
        # Reproduces the spec's own example, where the VTT arrives flattened onto one line.
        vtt = re.sub(r"\n+", " ", vtt).strip()
    return {
        "speech_detected": bool(cues),
        "subtitles": [
            {
                "start_time": timestamp(cue.start_ms),
                "end_time": timestamp(cue.end_ms),
                "text": cue.text,
            }
            for cue in cues
        ],
        "vttContent": vtt,
        # Gcore joins Whisper's raw segments, which start with a space: hence two spaces.
        "concatenated_text": "  ".join(cue.text for cue in cues),
        "languages": languages,
    }
