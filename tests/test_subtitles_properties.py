"""Properties of the normaliser over generated tracks (hypothesis).

For any cue list: the output is valid WebVTT (ordered, no overlap, each cue ends after it
starts), no cue is longer than the preset allows, webvtt-py reads the same cues, and every
word that went in comes out in time order unless the report lists its cue as removed.
Where the input leaves room (each word fits a line, speech is not impossibly fast) the
output also keeps the line and gap rules.
"""

from __future__ import annotations

import html

import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.subtitles import Cue, QcReport, normalise, parse_vtt, to_vtt, validate_vtt
from handler.subtitles.presets import PRESETS, limits_for

_VOCABULARY = {
    "eng": "the a man car father left when I was only seven so never knew him and but "
    "to in of with Margaret Thatcher well, yes. no? really! don't it's",
    "fre": "le la les l'homme d'accord je tu nous vous mais et donc à de dans pour ? ! "
    "très bien, merci. maison voiture été",
    "ger": "der die das ein eine und oder aber weil in an auf mit Straße schön, ja. "
    "nein? Übergrößenträger",
    "jpn": "私 は 昨 日 東 京 の 本 屋 で 新 し い 辞 書 を 買 い ま し た 。 、 っ ゃ ー",
    "chi": "我 们 今 天 在 北 京 见 到 了 很 多 老 朋 友 ， 大 家 都 高 兴 。 的",
}
_SPACED = {"eng", "fre", "ger"}


@st.composite
def _text(draw: st.DrawFn, language: str, max_units: int = 30) -> str:
    kind = draw(st.sampled_from(["speech"] * 8 + ["empty", "noise"]))
    if kind == "empty":
        return draw(st.sampled_from(["", "  ", "\n"]))
    if kind == "noise":
        return draw(st.sampled_from(["♪", "...", "♪ ♪", "-", "Thanks for watching!"]))
    units = draw(st.lists(st.sampled_from(_VOCABULARY[language].split()), max_size=max_units))
    if language not in _SPACED:
        return "".join(units)
    return " ".join(units) if draw(st.booleans()) else "\n".join([*units[:2], " ".join(units[2:])])


@st.composite
def _any_track(draw: st.DrawFn) -> tuple[list[Cue], str, str]:
    language = draw(st.sampled_from(sorted(_VOCABULARY)))
    preset = draw(st.sampled_from(["netflix", "bbc", "vertical"]))
    cues = []
    for _ in range(draw(st.integers(0, 15))):
        start = draw(st.integers(0, 60_000))
        end = start + draw(st.integers(-300, 16_000))
        cues.append(Cue(start / 1000, end / 1000, draw(_text(language))))
    return cues, language, preset


@st.composite
def _roomy_track(draw: st.DrawFn) -> tuple[list[Cue], str, str]:
    """Speech at most 4 units a second and every unit narrower than a line."""
    language = draw(st.sampled_from(sorted(_VOCABULARY)))
    preset = draw(st.sampled_from(["netflix", "bbc", "vertical"]))
    cues, at = [], draw(st.integers(0, 5_000))
    for _ in range(draw(st.integers(1, 12))):
        text = draw(_text(language))
        units = max(1, len(text.split()) if language in _SPACED else len(text))
        end = at + 100 + 100 * units + draw(st.integers(0, 9_000))
        cues.append(Cue(at / 1000, end / 1000, text))
        at += 100 + 250 * units + draw(st.integers(0, 3_000))
    return cues, language, preset


def _words(cues: list[Cue], language: str) -> list[str]:
    if language in _SPACED:
        return [word for cue in cues for word in cue.text.split()]
    return [ch for cue in cues for ch in "".join(cue.text.split())]


def _kept_input(cues: list[Cue], report: QcReport) -> list[Cue]:
    """The input in time order without the cues the report says were removed."""
    removed = [(r.start, r.end, r.text) for r in report.removed]
    kept = []
    for cue in sorted(cues, key=lambda c: (c.start, c.end)):
        if (cue.start, cue.end, cue.text) in removed:
            removed.remove((cue.start, cue.end, cue.text))
        else:
            kept.append(cue)
    assert removed == []  # every removed cue was one of the input's
    return kept


@settings(max_examples=200, deadline=None)
@given(_any_track())
def test_output_is_valid_and_keeps_every_word(track: tuple[list[Cue], str, str]) -> None:
    """Any input: valid, ordered, non-overlapping WebVTT; no cue over the maximum
    duration; every word not removed comes out, in order."""
    cues, language, preset = track
    out, report = normalise(cues, language, preset)
    written = to_vtt(out)
    assert validate_vtt(written) == []
    assert parse_vtt(written) == out
    assert report.cues_after == len(out)
    assert report.invalid_after == 0
    assert report.too_long_after == 0
    assert _words(out, language) == _words(_kept_input(cues, report), language)


@settings(max_examples=200, deadline=None)
@given(_roomy_track())
def test_output_keeps_the_preset_where_the_input_allows(
    track: tuple[list[Cue], str, str],
) -> None:
    """With room to work, no line is over the limit, no cue too long and no gap bad."""
    cues, language, preset = track
    out, report = normalise(cues, language, preset)
    limits = limits_for(PRESETS[preset], language)
    for cue in out:
        lines = cue.text.split("\n")
        assert len(lines) <= limits.max_lines
        assert all(len(line) <= limits.line_chars for line in lines)
    assert report.lines_over_limit_after == 0
    assert report.too_long_after == 0
    assert report.bad_gaps_after == 0
    assert report.invalid_after == 0
    assert _words(out, language) == _words(_kept_input(cues, report), language)


@settings(max_examples=100, deadline=None)
@given(_any_track())
def test_webvtt_py_reads_the_normalised_track(track: tuple[list[Cue], str, str]) -> None:
    """The independent webvtt-py parser reads the normalised track as the same cues."""
    cues, language, preset = track
    out, _ = normalise(cues, language, preset)
    captions = webvtt.from_string(to_vtt(out), strict=True)
    assert [
        (
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            html.unescape(c.text),
        )
        for c in captions
    ] == [(round(cue.start, 3), round(cue.end, 3), cue.text) for cue in out]
