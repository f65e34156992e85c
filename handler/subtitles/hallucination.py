"""Find cues that carry text nobody said: known phrases, loops, and text that zips too well."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence

from handler.subtitles.phrases import KNOWN_PHRASES

# Whisper's own decoder rejects output whose gzip ratio exceeds 2.4: speech does not repeat
# itself that much, a stuck decoder does.
COMPRESSION_RATIO_LIMIT = 2.4
# No zlib stream holding data is shorter than 9 bytes, so shorter texts cannot reach the limit.
_SHORTEST_COMPRESSIBLE = int(COMPRESSION_RATIO_LIMIT * 9)
LOOP_LENGTH = 3  # the same text in this many consecutive cues is a loop

_ANY_PHRASE = "|".join(f"(?:{pattern})" for pattern in KNOWN_PHRASES)
_ONLY_PHRASES = re.compile(rf"(?:{_ANY_PHRASE})(?: ?(?:{_ANY_PHRASE}))*")
_NOT_WORD = re.compile(r"[\W_]+")


def match_key(text: str) -> str:
    """Case-folded words separated by single spaces: the form phrases and loops compare in."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def is_known_phrase(key: str) -> bool:
    return bool(key) and _ONLY_PHRASES.fullmatch(key) is not None


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))


def find(texts: Sequence[str]) -> dict[int, str]:
    """Indices of hallucinated texts, with the reason: known_phrase, repeated or compression.

    Of a loop the first cue stays: the phrase was usually said once before the decoder
    got stuck on it.
    """
    keys = [match_key(text) for text in texts]
    found: dict[int, str] = {}
    for index, key in enumerate(keys):
        if is_known_phrase(key):
            found[index] = "known_phrase"
    run_start = 0
    for index in range(1, len(keys) + 1):
        if index < len(keys) and keys[index] and keys[index] == keys[run_start]:
            continue
        if index - run_start >= LOOP_LENGTH:
            for repeat in range(run_start + 1, index):
                found.setdefault(repeat, "repeated")
        run_start = index
    for index, text in enumerate(texts):
        if index in found or len(text.encode("utf-8")) <= _SHORTEST_COMPRESSIBLE:
            continue
        if compression_ratio(text) > COMPRESSION_RATIO_LIMIT:
            found[index] = "compression"
    return found
