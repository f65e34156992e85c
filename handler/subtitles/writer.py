"""Write cues as WebVTT."""

from __future__ import annotations

import re

from handler.subtitles.cue import Cue, VttError
from handler.subtitles.timestamps import format_timestamp

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def to_vtt(cues: list[Cue]) -> str:
    """A WebVTT file with one numbered block per cue, in the order given.

    Blank lines inside a cue's text are dropped (one would end the cue early) and every line
    is trimmed; the text is escaped, so "-->" can never be read as a timing line.
    """
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, start=1):
        try:
            timing = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}"
        except ValueError as exc:
            raise VttError(f"cue {number}: {exc}") from None
        blocks.append(f"{number}\n{timing}\n{_payload(cue.text)}\n")
    return "\n".join(blocks) + ("\n" if cues else "")


def _payload(text: str) -> str:
    lines = (line.strip() for line in _LINE_BREAK.split(text))
    return "\n".join(_escape(line) for line in lines if line)


def _escape(line: str) -> str:
    # Escaping every ">" (not only in "-->") is allowed and keeps the rule trivially correct.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
