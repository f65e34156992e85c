"""Read WebVTT text into cues, and say precisely what is wrong with text that is not WebVTT.

One scanner serves both entry points: ``parse_vtt`` stops at the first syntax problem,
``validate_vtt`` collects every problem and adds the timing rules (order, end after start, no
overlap) that a parser must tolerate but an attached track must not break.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

from handler.subtitles.cue import Cue, VttError
from handler.subtitles.timestamps import format_timestamp, parse_vtt_timestamp

# WebVTT knows exactly three line terminators; str.splitlines would also split on U+2028,
# form feeds and others that are ordinary text inside a cue.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TAG = re.compile(r"<[^>]*>")
_ARROW = "-->"


@dataclass(frozen=True, slots=True)
class _Located:
    cue: Cue
    number: int  # 1-based position among the file's cues
    line: int  # 1-based line of the timing line
    identifier: str | None


@dataclass(frozen=True, slots=True)
class _Block:
    line: int  # 1-based line of the block's first line
    lines: list[str]


def parse_vtt(text: str) -> list[Cue]:
    """Cues of a WebVTT file; raise VttError at the first syntax problem.

    Times need not be ordered or consistent (``validate_vtt`` reports that, the normaliser
    repairs it); markup tags are dropped and character references decoded.
    """
    located, problems = _scan(text)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise VttError(problems[0] + more)
    return [item.cue for item in located]


def validate_vtt(text: str) -> list[str]:
    """Every problem found in a WebVTT file, each naming its cue and line; [] means valid."""
    located, problems = _scan(text)
    return problems + _timing_problems(located)


def _scan(text: str) -> tuple[list[_Located], list[str]]:
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    problems = _header_problems(lines[0])
    if problems and not lines[0].startswith("WEBVTT"):
        return [], problems  # not WebVTT at all: anything further would be noise
    located: list[_Located] = []
    blocks = _blocks(lines, problems)
    next(blocks, None)  # the header: its first line is checked, the rest is free metadata
    number = 0
    for block in blocks:
        shape = _cue_shape(block, problems)
        if shape is None:
            continue
        number += 1
        item = _read_cue(block, shape, number, problems)
        if item is not None:
            located.append(item)
    return located, problems


def _header_problems(first: str) -> list[str]:
    if not first.startswith("WEBVTT"):
        shown = first[:40] + ("…" if len(first) > 40 else "")
        return [f"line 1: file must start with 'WEBVTT', found {shown!r}"]
    if len(first) > 6 and first[6] not in " \t":
        return ["line 1: 'WEBVTT' must be followed by a space, a tab or a line break"]
    if _ARROW in first:
        # Gcore's own API example is one line: "WEBVTT 1 00:00:00.009 --> …".
        return ["line 1: header line contains a cue timing ('-->'); the line breaks are missing"]
    return []


def _blocks(lines: list[str], problems: list[str]) -> Iterator[_Block]:
    """Blank-line separated blocks, the first being the header.

    As in the WebVTT parsing algorithm, a timing line that cannot belong to the current block
    starts a new one; unlike it, the missing blank line is reported.
    """
    current: list[str] = []
    start = 1
    for number, line in enumerate(lines, start=1):
        if not line:
            if current:
                yield _Block(start, current)
            current = []
            continue
        if current and _ARROW in line and _starts_new_block(current, start):
            problems.append(f"line {number}: a blank line is missing before this cue timing")
            yield _Block(start, current)
            current = []
        if not current:
            start = number
        current.append(line)
    if current:
        yield _Block(start, current)


def _starts_new_block(current: list[str], start: int) -> bool:
    is_header = start == 1
    return is_header or len(current) > 1 or _ARROW in current[0]


def _keyword(line: str, word: str) -> bool:
    return line == word or (line.startswith(word) and line[len(word)] in " \t")


def _cue_shape(block: _Block, problems: list[str]) -> tuple[str | None, int] | None:
    """(identifier, index of the timing line) of a cue block; None for anything else."""
    first = block.lines[0]
    if any(_keyword(first, word) for word in ("NOTE", "STYLE", "REGION")):
        return None
    if _ARROW in first:
        return None, 0
    if len(block.lines) > 1 and _ARROW in block.lines[1]:
        return first, 1
    problems.append(
        f"line {block.line}: block is not a cue (no '-->' timing line) "
        f"nor a NOTE, STYLE or REGION block: {first[:40]!r}"
    )
    return None


def _read_cue(
    block: _Block, shape: tuple[str | None, int], number: int, problems: list[str]
) -> _Located | None:
    identifier, timing_index = shape
    line = block.line + timing_index
    times = _read_timing(block.lines[timing_index], f"cue {number} (line {line})", problems)
    if times is None:
        return None
    text = "\n".join(_plain(payload) for payload in block.lines[timing_index + 1 :])
    return _Located(Cue(times[0], times[1], text), number, line, identifier)


def _read_timing(line: str, where: str, problems: list[str]) -> tuple[float, float] | None:
    left, right = line.split(_ARROW, 1)
    start_text = left.strip(" \t")
    # Whatever follows the end time is cue settings, which we neither need nor check.
    parts = right.split(maxsplit=1)
    end_text = parts[0] if parts else ""
    start = parse_vtt_timestamp(start_text)
    end = parse_vtt_timestamp(end_text) if end_text else None
    for label, raw, value in (("start", start_text, start), ("end", end_text, end)):
        if value is None:
            problems.append(
                f"{where}: {label} time {raw!r} is not a timestamp (hh:mm:ss.ttt or mm:ss.ttt)"
            )
    if start is None or end is None:
        return None
    return start, end


def _plain(payload: str) -> str:
    # Tags go before entities are decoded, so an escaped "&lt;b&gt;" stays literal text.
    return html.unescape(_TAG.sub("", payload))


def _timing_problems(located: list[_Located]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, int] = {}
    previous: _Located | None = None
    for item in located:
        cue, where = item.cue, f"cue {item.number} (line {item.line})"
        if item.identifier is not None:
            if item.identifier in seen:
                problems.append(
                    f"{where}: identifier {item.identifier!r} already used by cue "
                    f"{seen[item.identifier]}"
                )
            seen.setdefault(item.identifier, item.number)
        if cue.end <= cue.start:
            problems.append(
                f"{where}: end {format_timestamp(cue.end)} is not after "
                f"start {format_timestamp(cue.start)}"
            )
        if previous is not None:
            before = previous.cue
            if cue.start < before.start:
                problems.append(
                    f"{where}: starts at {format_timestamp(cue.start)}, before cue "
                    f"{previous.number} which starts at {format_timestamp(before.start)}"
                )
            elif cue.start < before.end:
                problems.append(
                    f"{where}: starts at {format_timestamp(cue.start)}, overlapping cue "
                    f"{previous.number} which ends at {format_timestamp(before.end)}"
                )
        previous = item
    return problems
