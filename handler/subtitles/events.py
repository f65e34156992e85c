"""The normaliser's working form of a cue: whole milliseconds and breakable units."""

from __future__ import annotations

from dataclasses import dataclass

from handler.subtitles.breaks import BreakRules, rules_for
from handler.subtitles.layout import Measured, line_count, measure, wrap
from handler.subtitles.presets import Limits, Preset
from handler.subtitles.scripts import Tokens, join


@dataclass(frozen=True, slots=True)
class Context:
    """Everything the passes need to know about the target language and preset."""

    limits: Limits
    rules: BreakRules

    @classmethod
    def of(cls, limits: Limits, language: str) -> Context:
        return cls(limits, rules_for(language))

    @property
    def preset(self) -> Preset:
        return self.limits.preset


class Event:
    """A mutable cue; the layout of its text is computed once per text."""

    __slots__ = ("_measured", "end", "start", "tokens")

    def __init__(
        self, start: int, end: int, tokens: Tokens, measured: Measured | None = None
    ) -> None:
        self.start = start
        self.end = end
        self.tokens = tokens
        self._measured = measured

    @property
    def duration(self) -> int:
        return self.end - self.start

    def measured(self, ctx: Context) -> Measured:
        if self._measured is None:
            self._measured = measure(self.tokens, ctx.rules)
        return self._measured

    def absorb(self, later: Event, ctx: Context) -> None:
        """Take the text and time of the event that follows this one."""
        self.tokens = join(self.tokens, later.tokens, ctx.limits.script)
        self.end = max(self.end, later.end)
        self._measured = None

    def fits(self, ctx: Context) -> bool:
        """The text fits on screen within the preset's lines and line width."""
        m = self.measured(ctx)
        return line_count(m, ctx.limits.line_chars) <= ctx.limits.max_lines

    def reading_ms(self, ctx: Context) -> int:
        m = self.measured(ctx)
        chars = m.span(0, m.size)
        if not ctx.limits.script.spaced:
            chars -= self.tokens.seps.count(" ")  # spaces in unspaced scripts are not read
        return ctx.limits.reading_ms(chars, m.size)

    def text(self, ctx: Context) -> str:
        return wrap(self.measured(ctx), ctx.limits.line_chars)
