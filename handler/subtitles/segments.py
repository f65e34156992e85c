"""Gcore AI ``result.subtitles[]`` into cues.

Gcore's ``vttContent`` cannot be trusted (its API example has no line breaks at all), while
``subtitles[]`` is structured; this is the path that always works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handler.subtitles.cue import Cue, VttError
from handler.subtitles.timestamps import parse_gcore_time


def from_gcore_segments(segments: list[dict[str, Any]]) -> list[Cue]:
    """One cue per segment, in the given order; VttError names the segment that is malformed."""
    return [_cue(number, segment) for number, segment in enumerate(segments, start=1)]


def _cue(number: int, segment: Mapping[str, Any]) -> Cue:
    if not isinstance(segment, Mapping):
        raise VttError(f"segment {number}: expected an object, got {type(segment).__name__}")
    start = _time(number, segment, "start_time")
    end = _time(number, segment, "end_time")
    text = segment.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise VttError(f"segment {number}: 'text' must be a string, got {type(text).__name__}")
    return Cue(start, end, text.strip())


def _time(number: int, segment: Mapping[str, Any], key: str) -> float:
    if key not in segment:
        raise VttError(f"segment {number}: {key!r} is missing")
    raw = segment[key]
    seconds = parse_gcore_time(raw) if isinstance(raw, str) else None
    if seconds is None:
        raise VttError(f"segment {number}: {key} {raw!r} is not a HH:MM:SS.mmm time")
    return seconds
