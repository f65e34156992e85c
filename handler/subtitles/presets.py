"""Reading rules per preset, and the limits they give for one language.

Numbers are the published ones in subtitle-style.md; times are whole milliseconds because
WebVTT cannot write finer ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from handler.subtitles.scripts import Script, script_of

_FRAME_MS = 1000 / 24


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    line_chars: int  # per line, in Latin characters
    max_lines: int
    max_cps: float | None  # reading speed as characters per second, or
    max_wpm: float | None  # as words per minute
    min_duration_ms: int
    max_duration_ms: int
    min_gap_ms: int  # the gap left between chained cues (0: they touch)
    chain_max_ms: int  # gaps up to this long are closed to min_gap_ms
    extend_max_ms: int  # how far an out-time may move past speech for reading speed
    enforce: bool  # False: measure only, change nothing


NETFLIX = Preset(
    name="netflix",
    line_chars=42,
    max_lines=2,
    max_cps=17.0,
    max_wpm=None,
    min_duration_ms=round(20 * _FRAME_MS),  # 5/6 s
    max_duration_ms=7000,
    min_gap_ms=round(2 * _FRAME_MS),
    chain_max_ms=500,  # 12 frames
    extend_max_ms=500,
    enforce=True,
)

# The BBC guidelines publish no duration bounds of their own, so Netflix's are kept; their
# gap rule is "closed, or at least 1 s", i.e. anything under a second is closed to zero.
BBC = replace(
    NETFLIX,
    name="bbc",
    line_chars=37,
    max_cps=None,
    max_wpm=180.0,
    min_gap_ms=0,
    chain_max_ms=999,
)

# 9:16 video: the BBC's online width (68 % of the frame) is about 25 characters, 3 lines.
VERTICAL = replace(BBC, name="vertical", line_chars=25, max_lines=3)

# "off" still measures, against the default preset, so its report says what a viewer gets.
OFF = replace(NETFLIX, name="off", enforce=False)

PRESETS: dict[str, Preset] = {p.name: p for p in (NETFLIX, BBC, VERTICAL, OFF)}

# 180 words a minute is 3 words a second; at 5.7 characters an English word (4.7 letters and
# a space) that is the same 17 characters a second. Scripts without spaces have no words to
# count, so the BBC rate is applied to them in that form.
_WPM_AS_CPS = 180 / 60 * 5.7


@dataclass(frozen=True, slots=True)
class Limits:
    """A preset's rules as they apply to one language."""

    preset: Preset
    script: Script
    line_chars: int
    rate: float  # the reading speed limit, in
    rate_unit: Literal["cps", "wpm"]

    @property
    def max_lines(self) -> int:
        return self.preset.max_lines

    def reading_ms(self, chars: int, words: int) -> int:
        """The shortest time on screen that keeps a text within the reading speed."""
        if self.rate_unit == "wpm":
            return math.ceil(words * 60_000 / self.rate)
        return math.ceil(chars * 1000 / self.rate)

    def as_dict(self) -> dict[str, float | int | str]:
        p = self.preset
        return {
            "line_chars": self.line_chars,
            "max_lines": p.max_lines,
            "reading_rate": round(self.rate, 2),
            "reading_rate_unit": self.rate_unit,
            "min_duration_ms": p.min_duration_ms,
            "max_duration_ms": p.max_duration_ms,
            "min_gap_ms": p.min_gap_ms,
            "chain_max_ms": p.chain_max_ms,
        }


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown subtitle preset {name!r}: use one of {', '.join(PRESETS)}"
        ) from None


def limits_for(preset: Preset, language: str) -> Limits:
    script = script_of(language)
    factor = script.width_factor
    line_chars = max(1, round(preset.line_chars * factor))
    if preset.max_wpm is not None and script.spaced:
        return Limits(preset, script, line_chars, preset.max_wpm, "wpm")
    cps = preset.max_cps if preset.max_cps is not None else _WPM_AS_CPS
    return Limits(preset, script, line_chars, cps * factor, "cps")
