"""How a language's script is measured and cut into breakable units.

Line widths and reading speeds in the style guides are counted in Latin characters; dense
scripts carry more per character, so their limits are scaled (``width_factor``), and scripts
written without spaces are broken between characters instead of between words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handler import languages


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    width_factor: float  # this script's characters per line relative to Latin's
    spaced: bool  # words are separated by spaces, so lines break only at spaces


# subtitle-style.md: Japanese and Chinese about 16 characters per line where Latin has 42;
# Korean is as dense but puts spaces between words. Other scripts written without spaces
# sit at the other end of the published range, 30 (WhisperX's default for them).
LATIN = Script("latin", 1.0, spaced=True)
_HAN_KANA = Script("cjk", 16 / 42, spaced=False)
_HANGUL = Script("hangul", 16 / 42, spaced=True)
_SOUTHEAST_ASIAN = Script("unspaced", 30 / 42, spaced=False)

_BY_LANGUAGE: dict[str, Script] = {
    "chi": _HAN_KANA,
    "jpn": _HAN_KANA,
    "kor": _HANGUL,
    "tha": _SOUTHEAST_ASIAN,
    "lao": _SOUTHEAST_ASIAN,
    "khm": _SOUTHEAST_ASIAN,
    "bur": _SOUTHEAST_ASIAN,
    "tib": _SOUTHEAST_ASIAN,
}


def language_code(language: str) -> str:
    """The B code for a B or T code; an unknown code is kept (it gets default rules)."""
    try:
        return languages.normalise_code(language)
    except languages.UnknownLanguage:
        return language.strip().lower()


def script_of(language: str) -> Script:
    return _BY_LANGUAGE.get(language_code(language), LATIN)


def display_len(text: str) -> int:
    """Characters a viewer sees: combining marks and format characters take no room."""
    if text.isascii():
        return len(text)
    return sum(1 for ch in text if not _zero_width(ch))


def _zero_width(ch: str) -> bool:
    return unicodedata.combining(ch) != 0 or unicodedata.category(ch) in ("Mn", "Me", "Cf")


# In unspaced scripts every character is a possible break, except inside runs of Latin
# letters and digits (a brand name or number in Chinese text stays whole), between a mark and
# the character it sits on, and after a Thai or Lao vowel written before its consonant.
_MARKS = (
    "\u0300-\u036f\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd"
    "\u0f71-\u0f84\u0f90-\u0fbc\u102b-\u103e\u17b4-\u17d3\u3099\u309a\ufe00-\ufe0f"
)
_UNSPACED_TOKEN = re.compile(
    rf"[0-9A-Za-z\u00c0-\u024f'’.,%-]+|[\u0e40-\u0e44\u0ec0-\u0ec4]?\S[{_MARKS}]*"
)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Breakable units of a text and what separated each from the one before."""

    words: tuple[str, ...]
    seps: tuple[str, ...]  # seps[0] is always "" ; "" or " " elsewhere


def tokenize(text: str, script: Script) -> Tokens:
    """Units a line may break between; all whitespace, line breaks included, becomes one space."""
    if script.spaced:
        words = tuple(text.split())
        return Tokens(words, ("",) + (" ",) * (len(words) - 1) if words else ())
    words_list: list[str] = []
    seps: list[str] = []
    for chunk_number, chunk in enumerate(text.split()):
        for index, match in enumerate(_UNSPACED_TOKEN.finditer(chunk)):
            words_list.append(match.group())
            seps.append(" " if index == 0 and chunk_number > 0 else "")
    return Tokens(tuple(words_list), tuple(seps))


def join(left: Tokens, right: Tokens, script: Script) -> Tokens:
    """Two texts run together, as when two cues are merged into one."""
    if not right.words:
        return left
    if not left.words:
        return right
    glue = " " if script.spaced or _both_latin(left.words[-1], right.words[0]) else ""
    return Tokens(left.words + right.words, (*left.seps, glue, *right.seps[1:]))


def _both_latin(a: str, b: str) -> bool:
    return a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum()


def render(tokens: Tokens, start: int = 0, stop: int | None = None) -> str:
    """The text of tokens[start:stop] on one line."""
    stop = len(tokens.words) if stop is None else stop
    if start >= stop:
        return ""
    if all(sep == " " for sep in tokens.seps[start + 1 : stop]):
        return " ".join(tokens.words[start:stop])
    parts = [tokens.words[start]]
    for index in range(start + 1, stop):
        parts.append(tokens.seps[index])
        parts.append(tokens.words[index])
    return "".join(parts)
