"""Line layout: wrap a text into lines, or cut it into parts that each fit on screen.

Both are small dynamic programs over the break costs of ``breaks``: the fewest lines (or the
number of parts asked for), then the cheapest break points, then the most even lengths.
Every cue of a track passes through here, hence the plain loops over local lists.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from itertools import pairwise

from handler.subtitles.breaks import BreakRules, break_costs
from handler.subtitles.scripts import Tokens, display_len, render

_BALANCE = 100.0  # cost of a line one whole line width off its ideal length (break-cost units)


class Measured:
    """A text's units with their lengths; break costs are computed only if a break is needed."""

    __slots__ = ("_costs", "_rules", "prefix", "seplen", "size", "tokens")

    def __init__(self, tokens: Tokens, rules: BreakRules) -> None:
        self.tokens = tokens
        self.size = len(tokens.words)
        self.seplen = [len(sep) for sep in tokens.seps]
        prefix, total = [0], 0
        for gap, word in zip(self.seplen, tokens.words, strict=True):
            total += gap + display_len(word)
            prefix.append(total)
        self.prefix = prefix  # prefix[k]: display length of words[:k], separators included
        self._rules = rules
        self._costs: list[float] | None = None

    @property
    def costs(self) -> list[float]:
        """costs[i]: the cost of a break before words[i]."""
        if self._costs is None:
            self._costs = break_costs(self.tokens, self._rules)
        return self._costs

    def span(self, start: int, stop: int) -> int:
        """Display length of words[start:stop] on one line."""
        if start >= stop:
            return 0
        return self.prefix[stop] - self.prefix[start] - self.seplen[start]

    def slice(self, start: int, stop: int) -> Measured:
        """words[start:stop] as a text of its own (a break's cost depends on its two words)."""
        tokens = Tokens(self.tokens.words[start:stop], ("", *self.tokens.seps[start + 1 : stop]))
        part = Measured.__new__(Measured)
        part.tokens, part.size, part._rules = tokens, stop - start, self._rules
        part.seplen = [0, *self.seplen[start + 1 : stop]]
        base = self.prefix[start] + self.seplen[start]
        part.prefix = [0, *(value - base for value in self.prefix[start + 1 : stop + 1])]
        part._costs = None if self._costs is None else [0.0, *self._costs[start + 1 : stop]]
        return part


def _line_end(m: Measured, start: int, stop: int, width: int) -> int:
    """End of the greedy line from ``start``: as many words as fit, but at least one."""
    prefix, limit = m.prefix, m.prefix[start] + m.seplen[start] + width
    end = start + 1
    while end < stop and prefix[end + 1] <= limit:
        end += 1
    return end


def line_count(m: Measured, width: int) -> int:
    """The fewest lines the text can take (greedy filling is optimal for that)."""
    if m.span(0, m.size) <= width:
        return min(m.size, 1)
    lines, at = 0, 0
    while at < m.size:
        at = _line_end(m, at, m.size, width)
        lines += 1
    return lines


def wrap(m: Measured, width: int) -> str:
    """The text in the fewest lines of ``width``, broken at the best points."""
    lines = line_count(m, width)
    if lines <= 1:
        return render(m.tokens)
    if lines == 2:
        cut = _best_single_cut(m, width)
        return render(m.tokens, 0, cut) + "\n" + render(m.tokens, cut, m.size)
    ideal = m.span(0, m.size) / lines

    def first_start(end: int) -> int:
        # The longest line ending at ``end`` that fits; a lone over-long word always "fits".
        low, high = 0, end - 1
        while low < high:
            middle = (low + high) // 2
            if m.span(middle, end) <= width:
                high = middle
            else:
                low = middle + 1
        return low

    starts = _best_cuts(m, lines, first_start, ideal, width)
    return "\n".join(render(m.tokens, a, b) for a, b in pairwise([*starts, m.size]))


def _best_single_cut(m: Measured, width: int) -> int:
    """Where to break a text that needs two lines (the common case, so it has its own loop)."""
    size, costs = m.size, m.costs
    best_cost, best_cut = float("inf"), 1
    scale = _BALANCE / (width * width) / 2
    for cut in range(1, size):
        top, bottom = m.span(0, cut), m.span(cut, size)
        if (top > width and cut > 1) or (bottom > width and cut < size - 1):
            continue
        cost = costs[cut] + (top - bottom) ** 2 * scale
        if cost < best_cost:
            best_cost, best_cut = cost, cut
    return best_cut


def reach(m: Measured, width: int, max_lines: int) -> list[int]:
    """reach[i]: the furthest stop such that words[i:stop] fits in ``max_lines`` lines."""
    ends = []
    for start in range(m.size):
        at = start
        for _ in range(max_lines):
            if at >= m.size:
                break
            at = _line_end(m, at, m.size, width)
        ends.append(at)
    return ends


def part_count(ends: list[int]) -> int:
    """The fewest screenfuls the text needs."""
    parts, at = 0, 0
    while at < len(ends):
        at = ends[at]
        parts += 1
    return parts


def partition(m: Measured, ends: list[int], parts: int) -> list[tuple[int, int]]:
    """Cut the words into ``parts`` screenfuls at the best break points, evenly by length.

    ``parts`` must be at least ``part_count(ends)`` and at most the number of words.
    """
    if parts == 2:
        cut = _best_part_cut(m, ends)
        return [(0, cut), (cut, m.size)]
    ideal = max(1.0, m.span(0, m.size) / parts)
    # ends[] never decreases, so the starts that reach ``end`` are a tail of the range
    starts = _best_cuts(m, parts, lambda end: bisect.bisect_left(ends, end), ideal, ideal)
    return list(pairwise([*starts, m.size]))


def _best_part_cut(m: Measured, ends: list[int]) -> int:
    """Where to cut a text into two screenfuls (the common case, so it has its own loop)."""
    size, costs = m.size, m.costs
    ideal = max(1.0, m.span(0, size) / 2)
    scale = _BALANCE / (ideal * ideal) / 2
    best_cost, best_cut = float("inf"), 1
    for cut in range(max(1, bisect.bisect_left(ends, size)), min(ends[0], size - 1) + 1):
        cost = costs[cut] + (m.span(0, cut) - m.span(cut, size)) ** 2 * scale
        if cost < best_cost:
            best_cost, best_cut = cost, cut
    return best_cut


def _best_cuts(
    m: Measured, pieces: int, first_start: Callable[[int], int], ideal: float, scale: float
) -> list[int]:
    """Start indices of exactly ``pieces`` pieces of the words with the least cost.

    A piece ending at ``j`` may start anywhere from ``first_start(j)`` to ``j - 1``; the
    caller guarantees that the number of pieces asked for is reachable that way. A piece's
    cost is the break before it plus its squared distance from the ideal length.
    """
    inf = float("inf")
    size, costs, prefix, seplen = m.size, m.costs, m.prefix, m.seplen
    weight = _BALANCE / (scale * scale)
    # best[k][j]: cheapest way to lay words[:j] as k pieces; back[k][j]: where the k-th began
    best = [[inf] * (size + 1) for _ in range(pieces + 1)]
    back = [[0] * (size + 1) for _ in range(pieces + 1)]
    best[0][0] = 0.0
    previous_row = best[0]
    for k in range(1, pieces + 1):
        row, row_back = best[k], back[k]
        # the k-th piece leaves at least one word for each piece after it
        for j in range(k, size - (pieces - k) + 1):
            for i in range(max(k - 1, first_start(j)), j):
                before = previous_row[i]
                if before == inf:
                    continue
                length = prefix[j] - prefix[i] - seplen[i]
                cost = before + (length - ideal) ** 2 * weight + (costs[i] if i else 0.0)
                if cost < row[j]:
                    row[j], row_back[j] = cost, i
        previous_row = row
    cuts, at = [], size
    for k in range(pieces, 0, -1):
        at = back[k][at]
        cuts.append(at)
    return cuts[::-1]


def measure(tokens: Tokens, rules: BreakRules) -> Measured:
    return Measured(tokens, rules)
