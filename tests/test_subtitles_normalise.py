"""The normaliser's timing rules, presets and QC report (handler.subtitles.normalise).

Times are chosen on whole milliseconds; netflix: min 5/6 s (833 ms), max 7 s, chained gap
2 frames (83 ms), gaps up to 0.5 s closed; bbc: gaps under 1 s closed to 0.
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import pairwise

import pytest

from handler.subtitles import (
    PRESETS,
    Cue,
    QcReport,
    from_gcore_segments,
    normalise,
    parse_vtt,
    to_vtt,
    validate_vtt,
)
from handler.subtitles.presets import limits_for
from handler.subtitles.qc import Counts

LONG_EN = (
    "I told you that the man in the car was my father, and he left us when I was only "
    "seven years old, so I never really knew him at all."
)


# Two lines of 41 and 39 characters: no room left for another word
FULL_TWO_LINES = "This cue already fills two lines of text, and it leaves no room for another word."


def _times(cues: list[Cue]) -> list[tuple[float, float]]:
    return [(round(c.start, 3), round(c.end, 3)) for c in cues]


def _words(cues: list[Cue]) -> list[str]:
    return [word for cue in cues for word in cue.text.split()]


# -- overlaps, order, gaps ---------------------------------------------------------------


def test_overlap_is_cut_back_to_the_chained_gap() -> None:
    """An out-time that runs into the next cue is pulled back to leave 2 frames."""
    out, report = normalise([Cue(0.0, 3.0, "First one."), Cue(2.0, 4.0, "Second.")], "eng")
    assert _times(out) == [(0.0, 1.917), (2.0, 4.0)]
    assert (report.invalid_before, report.invalid_after) == (1, 0)
    assert report.changes["out_times_cut_for_gap"] == 1


def test_cues_starting_together_become_one() -> None:
    """Two cues whose speech starts within 2 frames of each other are one cue."""
    out, report = normalise([Cue(1.0, 3.0, "Hello."), Cue(1.05, 2.5, "Hi there.")], "eng")
    assert out == [Cue(1.0, 3.0, "Hello. Hi there.")]
    assert report.changes["merged_simultaneous"] == 1


def test_unordered_input_comes_out_in_time_order() -> None:
    """Cues are sorted by start time; the report says the input was reordered."""
    cues = [Cue(5.0, 7.0, "Later."), Cue(1.0, 3.0, "Earlier.")]
    out, report = normalise(cues, "eng")
    assert [c.text for c in out] == ["Earlier.", "Later."]
    assert report.changes["reordered"] == 1
    assert report.invalid_before == 1


@pytest.mark.parametrize(
    ("second_start", "first_end"),
    [
        pytest.param(3.0, 2.917, id="touching-pulled-back-to-2-frames"),
        pytest.param(2.3, 2.217, id="small-gap-closed-to-2-frames"),
        pytest.param(2.5, 2.417, id="half-second-closed"),
        pytest.param(2.6, 2.0, id="over-half-second-kept"),
    ],
)
def test_netflix_chaining(second_start: float, first_end: float) -> None:
    """Netflix: gaps of 0.5 s or less become exactly 2 frames; longer gaps stay."""
    ends = 3.0 if second_start == 3.0 else 2.0
    out, report = normalise(
        [Cue(0.0, ends, "A line of speech."), Cue(second_start, second_start + 2, "Another.")],
        "eng",
    )
    assert _times(out)[0] == (0.0, first_end)
    assert report.bad_gaps_after == 0


@pytest.mark.parametrize(
    ("second_start", "first_end"),
    [
        pytest.param(2.0, 2.0, id="touching-stays-closed"),
        pytest.param(2.6, 2.6, id="short-gap-closed-to-zero"),
        pytest.param(2.999, 2.999, id="just-under-a-second-closed"),
        pytest.param(3.0, 2.0, id="one-second-kept"),
    ],
)
def test_bbc_gap_closed_or_at_least_a_second(second_start: float, first_end: float) -> None:
    """BBC: a gap is either closed or at least 1 s."""
    out, report = normalise(
        [Cue(0.0, 2.0, "A line of speech."), Cue(second_start, second_start + 2, "Another.")],
        "eng",
        "bbc",
    )
    assert _times(out)[0] == (0.0, first_end)
    assert report.bad_gaps_after == 0


def test_gap_widened_when_closing_would_exceed_seven_seconds() -> None:
    """A gap that cannot be closed without a cue over 7 s is widened past 0.5 s instead."""
    out, report = normalise([Cue(0.0, 6.95, "Long cue here."), Cue(7.25, 9.0, "Next.")], "eng")
    assert _times(out) == [(0.0, 6.749), (7.25, 9.0)]
    assert report.changes["gaps_widened"] == 1
    assert report.bad_gaps_after == 0


# -- too short, too long, reading speed ----------------------------------------------


def test_short_cue_merges_into_neighbour_across_the_smaller_gap() -> None:
    """A cue under 5/6 s joins the neighbour it is closer to, when the text fits."""
    cues = [Cue(0.0, 2.0, "Hello there."), Cue(2.1, 2.4, "Hi."), Cue(3.5, 5.0, "Sit down.")]
    out, report = normalise(cues, "eng")
    assert [c.text for c in out] == ["Hello there. Hi.", "Sit down."]
    assert _times(out)[0] == (0.0, 2.4)
    assert report.changes["merged_short"] == 1
    cues = [Cue(0.0, 2.0, "Hello there."), Cue(2.4, 2.7, "Hi."), Cue(2.8, 5.0, "Sit down.")]
    out, _ = normalise(cues, "eng")
    assert [c.text for c in out] == ["Hello there.", "Hi. Sit down."]


def test_short_cue_that_does_not_fit_is_extended_into_silence() -> None:
    """If merging would overflow two lines, the short cue runs on into the silence."""
    long_text = FULL_TWO_LINES
    out, report = normalise([Cue(0.0, 5.0, long_text), Cue(5.1, 5.3, "Hi.")], "eng")
    assert [c.text.replace("\n", " ") for c in out] == [long_text, "Hi."]
    assert _times(out)[1] == (5.1, 5.933)
    assert report.changes["extended_short"] == 1
    assert report.too_short_after == 0


def test_short_cue_with_no_room_stays_and_is_flagged() -> None:
    """No room to merge or extend: the cue stays short, and the report flags the track."""
    long_text = FULL_TWO_LINES
    cues = [
        Cue(0.0, 5.0, long_text),
        Cue(5.1, 5.3, "Hi."),
        Cue(5.4, 10.0, long_text.replace("This", "That")),
    ]
    out, report = normalise(cues, "eng")
    assert len(out) == 3
    assert report.too_short_after == 1
    assert report.flagged


def test_out_time_extended_for_reading_speed() -> None:
    """A cue read faster than 17 CPS gets up to 0.5 s more, but never into the next cue."""
    text = "Forty characters of speech in two secs."  # 39 chars needs 2.295 s
    out, _ = normalise([Cue(0.0, 2.0, text), Cue(10.0, 12.0, "Later.")], "eng")
    assert _times(out)[0] == (0.0, 2.295)
    out, _ = normalise([Cue(0.0, 2.0, text), Cue(2.2, 4.0, "Next.")], "eng")
    assert _times(out)[0] == (0.0, 2.117)
    fast = "Sixty-odd characters squeezed into just two seconds of speech"
    out, report = normalise([Cue(0.0, 2.0, fast), Cue(10.0, 12.0, "Later.")], "eng")
    assert _times(out)[0] == (0.0, 2.5)  # the 0.5 s allowance is not enough
    assert report.cues_over_speed_after == 1
    assert report.flagged


def test_bbc_reading_speed_is_words_per_minute() -> None:
    """BBC: 180 words a minute, a third of a second per word."""
    out, report = normalise([Cue(0.0, 2.0, "one two three four five six seven")], "eng", "bbc")
    assert _times(out) == [(0.0, 2.334)]
    assert (report.cues_over_speed_before, report.cues_over_speed_after) == (1, 0)


def test_long_cue_is_split_into_timed_parts() -> None:
    """Text beyond two lines becomes several cues, each fitting, sharing the time by
    characters and chained by 2 frames; no word is lost or reordered."""
    out, report = normalise([Cue(10.0, 18.0, LONG_EN)], "eng")
    assert len(out) == 2
    assert _words(out) == LONG_EN.split()
    assert out[0].start == 10.0 and out[-1].end == 18.0
    for before, after in pairwise(out):
        assert round(after.start - before.end, 3) == 0.083
    for cue in out:
        assert all(len(line) <= 42 for line in cue.text.split("\n"))
        assert cue.text.count("\n") <= 1
    durations = [c.end - c.start for c in out]
    chars = [len(c.text) for c in out]
    shares = [d / sum(durations) for d in durations]
    assert all(abs(s - c / sum(chars)) < 0.02 for s, c in zip(shares, chars, strict=True))
    assert (report.lines_over_limit_before, report.lines_over_limit_after) == (1, 0)
    assert report.changes["split"] == 1


def test_split_prefers_sentence_ends() -> None:
    """A cue holding two sentences is cut between them, not in the middle of one."""
    text = "We should leave now before the storm gets worse. The road will be closed soon."
    out, _ = normalise([Cue(0.0, 7.0, text)], "eng", "vertical")
    assert out[0].text.replace("\n", " ").endswith("worse.")


def test_cue_over_seven_seconds_is_split_or_trimmed() -> None:
    """Over 7 s: enough words are split in time; a lone word lingers no longer than 7 s."""
    words = (
        "We walked for hours through the quiet village streets, past the old church and "
        "the school, until at last we found the little bakery everyone talked about."
    )
    out, report = normalise([Cue(0.0, 15.0, words)], "eng")
    assert len(out) == 3
    assert all(c.end - c.start <= 7.0 for c in out)
    assert (report.too_long_before, report.too_long_after) == (1, 0)
    out, report = normalise([Cue(0.0, 15.0, "Music.")], "eng")
    assert _times(out) == [(0.0, 7.0)]
    assert report.changes["trimmed_to_max_duration"] == 1


def test_japanese_limits_scale_to_characters() -> None:
    """Japanese: 16 characters a line and a reading speed scaled like the width."""
    text = (
        "私は昨日東京の大きな本屋で新しい日本語の辞書を買いました。"
        "それから友達と昼ご飯を食べました。"
    )
    out, report = normalise([Cue(0.0, 8.0, text)], "jpn")
    assert len(out) == 2
    assert "".join(c.text.replace("\n", "") for c in out) == text
    assert all(len(line) <= 16 for c in out for line in c.text.split("\n"))
    assert report.limits["line_chars"] == 16
    assert report.limits["reading_rate"] == pytest.approx(17 * 16 / 42, abs=0.01)


# -- removal -------------------------------------------------------------------------


def test_empty_and_punctuation_only_cues_are_removed_and_listed() -> None:
    """Cues with no letters or digits go, and the report lists each with its reason."""
    cues = [Cue(0.0, 1.0, "  "), Cue(1.0, 2.0, "♪ ♪"), Cue(2.0, 3.0, "..."), Cue(4, 6, "Yes.")]
    out, report = normalise(cues, "eng")
    assert [c.text for c in out] == ["Yes."]
    assert [(r.text, r.reason) for r in report.removed] == [
        ("  ", "empty"),
        ("♪ ♪", "punctuation_only"),
        ("...", "punctuation_only"),
    ]
    assert report.changes["removed"] == 3


# -- presets and the report ----------------------------------------------------------


def test_off_measures_but_changes_nothing() -> None:
    """Preset "off" returns the cues untouched, with the report measured as netflix."""
    cues = [Cue(0.0, 0.3, "Thanks for watching!"), Cue(0.2, 12.0, LONG_EN)]
    out, report = normalise(cues, "eng", "off")
    assert out == cues
    assert report.preset == "off"
    assert report.removed == ()
    assert report.too_short_after == report.too_short_before == 1
    assert report.too_long_after == 1
    assert report.flagged


def test_unknown_preset_is_an_error() -> None:
    """A preset name that does not exist is a ValueError naming the valid ones."""
    with pytest.raises(ValueError, match=r"unknown subtitle preset 'cinema'.*netflix"):
        normalise([], "eng", "cinema")


def test_unknown_language_gets_default_rules() -> None:
    """A language with no rules of its own is wrapped by punctuation and balance alone."""
    out, report = normalise([Cue(0.0, 6.0, LONG_EN[:70])], "xyz")
    assert report.language == "xyz"
    assert all(len(line) <= 42 for line in out[0].text.split("\n"))


def test_language_codes_are_normalised() -> None:
    """T codes and capitals map to the B code (deu -> ger), so German rules apply."""
    _, report = normalise([Cue(0.0, 2.0, "Hallo.")], "DEU")
    assert report.language == "ger"


def test_negative_times_are_clamped_to_zero() -> None:
    """A cue before the start of the video is moved to 0, so the track can be written."""
    out, _ = normalise([Cue(-0.5, 2.0, "Early start.")], "eng")
    assert _times(out) == [(0.0, 2.0)]
    assert validate_vtt(to_vtt(out)) == []


def test_empty_track() -> None:
    """No cues: nothing to do, nothing flagged."""
    out, report = normalise([], "eng")
    assert out == []
    assert report.cues_before == report.cues_after == 0
    assert not report.flagged


def test_report_as_dict_is_json() -> None:
    """as_dict() is plain JSON with before/after counts, removed cues, changes and the
    flag, as the ledger stores it."""
    cues = [
        Cue(0.0, 2.0, "Hello there."),
        Cue(2.0, 2.2, "Hi."),
        Cue(3.0, 12.0, LONG_EN),
        Cue(13.0, 15.0, "Thanks for watching!"),
    ]
    _, report = normalise(cues, "eng")
    data = json.loads(json.dumps(report.as_dict()))
    assert data["preset"] == "netflix"
    assert data["language"] == "eng"
    assert data["cues_before"] == 4
    assert data["removed"] == [
        {"start": 13.0, "end": 15.0, "text": "Thanks for watching!", "reason": "known_phrase"}
    ]
    assert data["flagged"] is report.flagged
    for name in (
        "cues",
        "lines_over_limit",
        "cues_over_speed",
        "too_short",
        "too_long",
        "bad_gaps",
        "invalid",
    ):
        assert isinstance(data[f"{name}_before"], int)
        assert isinstance(data[f"{name}_after"], int)
    assert data["changes"]["removed"] == 1
    assert data["limits"]["line_chars"] == 42


@pytest.mark.parametrize(
    "violation",
    ["lines_over_limit", "cues_over_speed", "too_short", "too_long", "bad_gaps", "invalid"],
)
def test_flagged_follows_the_after_counts(violation: str) -> None:
    """flagged is true exactly when some violation remains after normalising."""
    limits = limits_for(PRESETS["netflix"], "eng")
    clean = Counts(cues=5, **dict.fromkeys(_VIOLATIONS, 0))
    dirty = replace(clean, **{violation: 1})
    assert not QcReport.build(limits, "eng", dirty, clean, (), {}).flagged
    assert QcReport.build(limits, "eng", clean, dirty, (), {}).flagged


_VIOLATIONS = (
    "lines_over_limit",
    "cues_over_speed",
    "too_short",
    "too_long",
    "bad_gaps",
    "invalid",
)


def test_gcore_result_to_attached_track() -> None:
    """Gcore's subtitles[] through the normaliser give a valid track webvtt-py agrees on."""
    segments = [
        {"start_time": "00:00:00.009", "end_time": "00:00:03.689", "text": " Come on team,"},
        {"start_time": "00:00:03.689", "end_time": "00:00:04.100", "text": " let's go!"},
        {
            "start_time": "00:00:04.100",
            "end_time": "00:00:13.900",
            "text": " Today we are going to walk through the forest and look for fungi, "
            "which grow best after a long week of autumn rain.",
        },
        {"start_time": "00:00:20.000", "end_time": "00:00:25.000", "text": " Thanks for watching!"},
    ]
    out, report = normalise(from_gcore_segments(segments), "eng")
    written = to_vtt(out)
    assert validate_vtt(written) == []
    assert [(c.start, c.end, c.text) for c in parse_vtt(written)] == [
        (c.start, c.end, c.text) for c in out
    ]
    assert " ".join(_words(out)) == (
        "Come on team, let's go! Today we are going to walk through the forest and look for "
        "fungi, which grow best after a long week of autumn rain."
    )
    assert [r.reason for r in report.removed] == ["known_phrase"]
    assert not report.flagged
