"""Split a cue that is too long to read into timed parts that each fit on screen.

A cue is too long when its text needs more lines than the preset allows or it stays up
longer than the preset's maximum. The parts share the cue's time by their characters,
chained by the preset's gap, so each part stays near the speech it transcribes.
"""

from __future__ import annotations

import math
from collections import Counter

from handler.subtitles.events import Context, Event
from handler.subtitles.layout import Measured, line_count, part_count, partition, reach


def split_long(events: list[Event], ctx: Context, changes: Counter[str]) -> list[Event]:
    longest = ctx.preset.max_duration_ms
    out: list[Event] = []
    for event in events:
        parts = _split(event, ctx)
        if len(parts) > 1:
            changes["split"] += 1
            changes["split_parts_added"] += len(parts) - 1
        for part in parts:
            if part.duration > longest:
                # too few words to share the time: the rest is silence the text lingered over
                part.end = part.start + longest
                changes["trimmed_to_max_duration"] += 1
        out.extend(parts)
    return out


def _split(event: Event, ctx: Context) -> list[Event]:
    preset, limits = ctx.preset, ctx.limits
    m = event.measured(ctx)
    too_long = event.duration > preset.max_duration_ms
    if not too_long and line_count(m, limits.line_chars) <= limits.max_lines:
        return [event]
    ends = reach(m, limits.line_chars, limits.max_lines)
    for_time = math.ceil(event.duration / preset.max_duration_ms)
    parts = min(max(part_count(ends), for_time), m.size)
    if parts <= 1 or event.duration < parts:
        return [event]  # nothing to split, or too little time to give each part any
    while True:
        pieces = _timed_parts(event, m, partition(m, ends, parts), preset.min_gap_ms)
        if parts == m.size or all(p.duration <= preset.max_duration_ms for p in pieces):
            return pieces
        parts += 1


def _timed_parts(event: Event, m: Measured, bounds: list[tuple[int, int]], gap: int) -> list[Event]:
    parts = len(bounds)
    if event.duration - (parts - 1) * gap < parts:
        gap = 0  # better touching parts than parts with no time at all
    # every part gets a millisecond, the rest goes by characters (+1: no part weighs nothing)
    spare = event.duration - (parts - 1) * gap - parts
    weights = [m.span(a, b) + 1 for a, b in bounds]
    total = sum(weights)
    pieces, done = [], 0
    for index, (a, b) in enumerate(bounds):
        start = event.start + index * (gap + 1) + round(spare * done / total)
        done += weights[index]
        end = event.start + index * (gap + 1) + 1 + round(spare * done / total)
        part = m.slice(a, b)
        pieces.append(Event(start, end, part.tokens, part))
    return pieces
