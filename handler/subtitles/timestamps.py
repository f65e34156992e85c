"""WebVTT and Gcore timestamps to and from seconds."""

from __future__ import annotations

import math
import re

# WebVTT: hours optional (two or more digits), minutes and seconds exactly two, milliseconds
# exactly three. Being exact here is what lets the parser reject SRT commas and mangled files.
_VTT = re.compile(r"(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})")

# Gcore documents "HH:mm:ss.fff"; the fraction is loosened to 0-3 digits because a missing
# trailing zero is not worth failing a whole transcription over.
_GCORE = re.compile(r"(\d{1,}):([0-5]\d):([0-5]\d)(?:\.(\d{1,3}))?")


def parse_vtt_timestamp(value: str) -> float | None:
    """Seconds for a WebVTT timestamp, or None when it is not one."""
    match = _VTT.fullmatch(value)
    if match is None:
        return None
    hours, minutes, seconds, millis = match.groups()
    return _seconds(int(hours or 0), int(minutes), int(seconds), int(millis))


def parse_gcore_time(value: str) -> float | None:
    """Seconds for a Gcore ``HH:MM:SS.mmm`` time, or None when it is not one."""
    match = _GCORE.fullmatch(value.strip())
    if match is None:
        return None
    hours, minutes, seconds, fraction = match.groups()
    millis = int((fraction or "0").ljust(3, "0"))
    return _seconds(int(hours), int(minutes), int(seconds), millis)


def _seconds(hours: int, minutes: int, seconds: int, millis: int) -> float:
    return (hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis) / 1000


def to_millis(seconds: float) -> int:
    """Whole milliseconds, the resolution WebVTT can write."""
    return math.floor(seconds * 1000 + 0.5)


def format_timestamp(seconds: float) -> str:
    """``hh:mm:ss.ttt`` (hours grow past two digits rather than wrap)."""
    millis = to_millis(seconds)
    if millis < 0:
        raise ValueError(f"negative time {seconds!r} cannot be written as a WebVTT timestamp")
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"
