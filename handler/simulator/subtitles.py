"""Subtitle tracks attached to videos, and the checks Gcore applies to their text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from handler.languages import BY_CODE

MAX_BYTES = 5 * 1024 * 1024
_SRT_START = re.compile(r"\d+\s*\n")


class SubtitleRejected(ValueError):
    """The track text is not acceptable; the message is what the API returns."""


@dataclass(slots=True)
class Subtitle:
    id: int
    video_id: int
    name: str
    language: str
    vtt: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "language": self.language, "vtt": self.vtt}

    def patched_json(self) -> dict[str, Any]:
        # PATCH answers with ``subtitlePatched``, which has no id.
        return {"name": self.name, "language": self.language, "vtt": self.vtt}


def language_known(code: object) -> bool:
    """Subtitles take 3-letter ISO 639-2/B codes, exactly as written."""
    return isinstance(code, str) and code in BY_CODE


def check_text(vtt: object) -> str:
    """Return ``vtt`` if Gcore would accept it: WebVTT or SRT, at most 5 MB."""
    if not isinstance(vtt, str) or not vtt.strip():
        raise SubtitleRejected("Bad Request. Field 'vtt' is required.")
    if len(vtt.encode("utf-8")) > MAX_BYTES:
        raise SubtitleRejected("Bad Request. Subtitles file size must be up to 5Mb.")
    text = vtt.lstrip("\ufeff")
    if not (text.startswith("WEBVTT") or _SRT_START.match(text)):
        raise SubtitleRejected(
            "Bad Request. Subtitles must be in WebVTT (start with WEBVTT) or SRT format."
        )
    return vtt
