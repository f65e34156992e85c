"""The cue model shared by the parser, the writer and the normaliser."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle event: times in seconds, plain text with lines joined by ``"\\n"``.

    The text is plain (entities decoded, markup tags removed): the writer escapes it again,
    so nothing upstream has to think about WebVTT syntax.
    """

    start: float
    end: float
    text: str


class VttError(ValueError):
    """Subtitle input is malformed; the message names the cue or line at fault."""
