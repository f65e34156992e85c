"""Measure a track against a preset's limits, and the QC report that goes with a track."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from handler.subtitles.cue import Cue
from handler.subtitles.presets import Limits, Preset
from handler.subtitles.scripts import Script, display_len
from handler.subtitles.timestamps import to_millis

# 2 frames at 24 fps is 83.3 ms: a gap written as 83 or 84 ms is the same chained gap.
_ROUNDING_MS = 1


def reading_chars(text: str, script: Script) -> int:
    """Characters a viewer reads: spaces between words count, line breaks count as one."""
    words = text.split()
    if not words:
        return 0
    letters = sum(map(len, words)) if text.isascii() else sum(map(display_len, words))
    return letters + len(words) - 1 if script.spaced else letters


def gap_is_bad(gap_ms: int, preset: Preset) -> bool:
    """Too close (or overlapping), or a short gap that should have been closed."""
    if gap_ms < preset.min_gap_ms:
        return True
    return preset.min_gap_ms + _ROUNDING_MS < gap_ms <= preset.chain_max_ms


@dataclass(frozen=True, slots=True)
class Counts:
    cues: int
    lines_over_limit: int
    cues_over_speed: int
    too_short: int
    too_long: int
    bad_gaps: int
    invalid: int  # out of order, overlapping, or ending before they start


def count(cues: Sequence[Cue], limits: Limits) -> Counts:
    preset = limits.preset
    lines_over = over_speed = short = long = bad_gaps = invalid = 0
    previous: tuple[int, int] | None = None
    for cue in cues:
        start, end = to_millis(cue.start), to_millis(cue.end)
        lines = [line for line in cue.text.split("\n") if line.strip()]
        lines_over += max(0, len(lines) - limits.max_lines)
        lines_over += sum(1 for line in lines if display_len(line.strip()) > limits.line_chars)
        duration = end - start
        needed = limits.reading_ms(reading_chars(cue.text, limits.script), len(cue.text.split()))
        over_speed += needed > max(duration, 0)
        short += duration < preset.min_duration_ms
        long += duration > preset.max_duration_ms
        invalid += end <= start
        if previous is not None:
            invalid += start < previous[1]
            bad_gaps += gap_is_bad(start - previous[1], preset)
        previous = (start, end)
    return Counts(len(cues), lines_over, over_speed, short, long, bad_gaps, invalid)


@dataclass(frozen=True, slots=True)
class RemovedCue:
    start: float
    end: float
    text: str
    reason: str  # empty, punctuation_only, known_phrase, repeated, compression


@dataclass(frozen=True, slots=True)
class QcReport:
    """What the normaliser found and did to one track; ``flagged`` if rules are still broken."""

    preset: str
    language: str
    cues_before: int
    cues_after: int
    lines_over_limit_before: int
    lines_over_limit_after: int
    cues_over_speed_before: int
    cues_over_speed_after: int
    too_short_before: int
    too_short_after: int
    too_long_before: int
    too_long_after: int
    bad_gaps_before: int
    bad_gaps_after: int
    invalid_before: int
    invalid_after: int
    removed: tuple[RemovedCue, ...] = ()
    changes: Mapping[str, int] = field(default_factory=dict)
    limits: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        limits: Limits,
        language: str,
        before: Counts,
        after: Counts,
        removed: Sequence[RemovedCue],
        changes: Mapping[str, int],
    ) -> QcReport:
        return cls(
            preset=limits.preset.name,
            language=language,
            cues_before=before.cues,
            cues_after=after.cues,
            lines_over_limit_before=before.lines_over_limit,
            lines_over_limit_after=after.lines_over_limit,
            cues_over_speed_before=before.cues_over_speed,
            cues_over_speed_after=after.cues_over_speed,
            too_short_before=before.too_short,
            too_short_after=after.too_short,
            too_long_before=before.too_long,
            too_long_after=after.too_long,
            bad_gaps_before=before.bad_gaps,
            bad_gaps_after=after.bad_gaps,
            invalid_before=before.invalid,
            invalid_after=after.invalid,
            removed=tuple(removed),
            changes=dict(sorted(changes.items())),
            limits=limits.as_dict(),
        )

    @property
    def flagged(self) -> bool:
        """Rules are still broken after normalising: the track is attached, but marked."""
        return any(
            (
                self.lines_over_limit_after,
                self.cues_over_speed_after,
                self.too_short_after,
                self.too_long_after,
                self.bad_gaps_after,
                self.invalid_after,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["removed"] = [asdict(item) for item in self.removed]
        data["changes"] = dict(self.changes)
        data["limits"] = dict(self.limits)
        data["flagged"] = self.flagged
        return data
