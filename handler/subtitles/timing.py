"""Timing passes over time-ordered events. In-times stay on speech; out-times move.

Each pass keeps two invariants that later passes and the writer rely on: every event ends
after it starts, and no event reaches into the preset's gap before the next one.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from handler.subtitles.events import Context, Event


def separate(events: list[Event], ctx: Context, changes: Counter[str]) -> list[Event]:
    """Cut each out-time back to leave the preset's gap; cues that start together become one."""
    gap = ctx.preset.min_gap_ms
    out: list[Event] = []
    for event in events:
        if event.end <= event.start:
            event.end = event.start + 1  # a zero-length cue is merely too short from here on
        while out and out[-1].end > event.start - gap:
            previous = out.pop()
            if event.start - gap > previous.start:
                previous.end = event.start - gap
                changes["out_times_cut_for_gap"] += 1
                out.append(previous)
                break
            # speech starting within a gap of the previous cue's start: one cue, not two
            previous.absorb(event, ctx)
            event = previous
            changes["merged_simultaneous"] += 1
        out.append(event)
    return out


def _short(event: Event, ctx: Context) -> bool:
    return event.duration < ctx.preset.min_duration_ms


def _can_merge(first: Event, second: Event, ctx: Context) -> bool:
    preset = ctx.preset
    if second.start - first.end > preset.chain_max_ms:
        return False  # the merged cue would hang over a silence
    if second.end - first.start > preset.max_duration_ms:
        return False
    trial = Event(first.start, second.end, first.tokens)
    trial.absorb(second, ctx)
    return trial.fits(ctx)


def merge_short(events: list[Event], ctx: Context, changes: Counter[str]) -> list[Event]:
    """Merge a cue too short to read into the neighbour across the smaller gap, if it fits."""
    out: list[Event] = []
    for index, event in enumerate(events):
        if out and _merge_into_previous(out[-1], event, events[index + 1 : index + 2], ctx):
            out[-1].absorb(event, ctx)
            changes["merged_short"] += 1
            continue
        out.append(event)
    return out


def _merge_into_previous(previous: Event, event: Event, after: list[Event], ctx: Context) -> bool:
    if _short(previous, ctx):
        # ``previous`` did not join the cue before it, so this is its other chance
        return _can_merge(previous, event, ctx)
    if not _short(event, ctx) or not _can_merge(previous, event, ctx):
        return False
    if not after or not _can_merge(event, after[0], ctx):
        return True
    return event.start - previous.end <= after[0].start - event.end


def extend(events: list[Event], ctx: Context, changes: Counter[str]) -> None:
    """Extend out-times into the following silence: short cues to the minimum duration,
    slow-to-read cues by up to the preset's allowance, never into the next cue's gap.
    """
    preset = ctx.preset
    for index, event in enumerate(events):
        limit = event.start + preset.max_duration_ms
        if index + 1 < len(events):
            limit = min(limit, events[index + 1].start - preset.min_gap_ms)
        if _short(event, ctx):
            target = min(event.start + preset.min_duration_ms, limit)
            if target > event.end:
                event.end = target
                changes["extended_short"] += 1
        needed = event.reading_ms(ctx)
        if event.duration < needed:
            target = min(event.start + needed, event.end + preset.extend_max_ms, limit)
            if target > event.end:
                event.end = target
                changes["extended_for_reading_speed"] += 1


def settle_gaps(events: list[Event], ctx: Context, changes: Counter[str]) -> None:
    """Close gaps short enough to chain; where closing would make a cue too long, widen."""
    preset = ctx.preset
    for event, following in pairwise(events):
        gap = following.start - event.end
        if gap <= preset.min_gap_ms or gap > preset.chain_max_ms:
            continue
        closed_end = following.start - preset.min_gap_ms
        if closed_end - event.start <= preset.max_duration_ms:
            event.end = closed_end
            changes["gaps_closed"] += 1
        else:
            event.end = following.start - preset.chain_max_ms - 1
            changes["gaps_widened"] += 1
