"""The QC normaliser: from raw ASR cues to a track that keeps a preset's reading rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from handler.subtitles import hallucination, qc, splitting, timing
from handler.subtitles.cue import Cue
from handler.subtitles.events import Context, Event
from handler.subtitles.presets import get_preset, limits_for
from handler.subtitles.qc import QcReport, RemovedCue
from handler.subtitles.scripts import language_code, tokenize
from handler.subtitles.timestamps import to_millis


def normalise(
    cues: list[Cue], language: str, preset: str = "netflix"
) -> tuple[list[Cue], QcReport]:
    """Cues that keep the preset's rules where the input allows, and the report on them.

    Every word that goes in comes out, in time order, except what ``report.removed`` lists.
    ``language`` (ISO 639-2/B) picks the line-break rules and the script's scaled limits.
    With preset "off" the cues come back unchanged and are only measured.
    """
    code = language_code(language)
    limits = limits_for(get_preset(preset), code)
    before = qc.count(cues, limits)
    if not limits.preset.enforce:
        return list(cues), QcReport.build(limits, code, before, before, (), {})
    ctx = Context.of(limits, code)
    changes: Counter[str] = Counter()
    ordered = sorted(cues, key=lambda cue: (cue.start, cue.end))
    if ordered != list(cues):
        changes["reordered"] = 1
    kept, removed = _remove_unwanted(ordered)
    # WebVTT has no negative times; speech cannot start before the video does
    events = [
        Event(
            max(0, to_millis(cue.start)),
            max(0, to_millis(cue.end)),
            tokenize(cue.text, limits.script),
        )
        for cue in kept
    ]
    events = timing.separate(events, ctx, changes)
    events = splitting.split_long(events, ctx, changes)
    events = timing.merge_short(events, ctx, changes)
    timing.extend(events, ctx, changes)
    timing.settle_gaps(events, ctx, changes)
    out = [Cue(e.start / 1000, e.end / 1000, e.text(ctx)) for e in events]
    changes["removed"] = len(removed)
    report = QcReport.build(limits, code, before, qc.count(out, limits), removed, changes)
    return out, report


def _remove_unwanted(cues: Sequence[Cue]) -> tuple[list[Cue], list[RemovedCue]]:
    reasons: dict[int, str] = {}
    for index, cue in enumerate(cues):
        if not cue.text.strip():
            reasons[index] = "empty"
        elif not any(ch.isalnum() for ch in cue.text):
            reasons[index] = "punctuation_only"  # "...", "♪ ♪", "-"
    spoken = [index for index in range(len(cues)) if index not in reasons]
    found = hallucination.find([cues[index].text for index in spoken])
    for position, reason in found.items():
        reasons[spoken[position]] = reason
    kept = [cue for index, cue in enumerate(cues) if index not in reasons]
    removed = [
        RemovedCue(cues[index].start, cues[index].end, cues[index].text, reason)
        for index, reason in sorted(reasons.items())
    ]
    return kept, removed
