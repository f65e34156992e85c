"""WebVTT reading, writing and validation, and Gcore's subtitles[] (handler.subtitles)."""

from __future__ import annotations

import html
import re

import pytest
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.subtitles import (
    Cue,
    VttError,
    from_gcore_segments,
    parse_vtt,
    to_vtt,
    validate_vtt,
)

GCORE_EXAMPLE = "WEBVTT\n\n1\n00:00:00.009 --> 00:00:03.689\nCome on team, …\n\n"
# The example in Gcore's own OpenAPI file: the line breaks were lost.
GCORE_FLATTENED = "WEBVTT 1 00:00:00.009 --> 00:00:03.689 Come on team, …"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(GCORE_EXAMPLE, [Cue(0.009, 3.689, "Come on team, …")], id="gcore-doc"),
        pytest.param("WEBVTT\n", [], id="header-only"),
        pytest.param("WEBVTT", [], id="header-no-newline"),
        pytest.param(
            "\ufeffWEBVTT\r\n\r\n00:00.500 --> 00:01.250\r\nhi\r\nthere\r\n",
            [Cue(0.5, 1.25, "hi\nthere")],
            id="bom-crlf-hourless",
        ),
        pytest.param(
            "WEBVTT\r\rintro\r00:00:01.000 --> 00:00:02.000\rold mac\r",
            [Cue(1.0, 2.0, "old mac")],
            id="bare-cr",
        ),
        pytest.param(
            "WEBVTT - Made by hand\nKind: captions\nLanguage: en\n\n"
            "STYLE\n::cue { color: yellow }\n\n"
            "NOTE this is\na comment\n\n"
            "intro-1\n00:01:02.003 --> 00:01:04.000 align:start line:0 position:10%\n"
            "first\n\n\n\n"
            "NOTE\n\n"
            "00:01:05.000 --> 00:01:06.000\nsecond\n",
            [Cue(62.003, 64.0, "first"), Cue(65.0, 66.0, "second")],
            id="header-text-style-note-ids-settings",
        ),
        pytest.param(
            "WEBVTT\n\n100:00:00.000 --> 100:00:01.000\nlong film\n",
            [Cue(360000.0, 360001.0, "long film")],
            id="three-digit-hours",
        ),
        pytest.param(
            "WEBVTT\n\n00:00:00.000-->00:00:01.000\ntight arrow\n",
            [Cue(0.0, 1.0, "tight arrow")],
            id="arrow-without-spaces",
        ),
        pytest.param(
            "WEBVTT\n\n00:00.000 --> 00:01.000\n"
            "<v Roger Bingham><i>Fish</i> &amp; chips &lt;3 &gt; &nbsp;x</v>\n",
            [Cue(0.0, 1.0, "Fish & chips <3 > \xa0x")],
            id="tags-and-entities",
        ),
        pytest.param(
            "WEBVTT\n\n00:00.000 --> 00:01.000\n\n",
            [Cue(0.0, 1.0, "")],
            id="empty-payload",
        ),
        pytest.param(
            "WEBVTT\n\n00:00.000 --> 00:01.000\nline\u2028same cue\n",
            [Cue(0.0, 1.0, "line\u2028same cue")],
            id="only-cr-lf-break-lines",
        ),
    ],
)
def test_parse_vtt_accepts(text: str, expected: list[Cue]) -> None:
    """Valid WebVTT in its tolerated variants parses to the expected cues."""
    assert parse_vtt(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(GCORE_FLATTENED, "line 1: header line contains a cue timing", id="flat"),
        pytest.param("", "line 1: file must start with 'WEBVTT'", id="empty"),
        pytest.param("1\n00:00:00.000 --> 00:00:01.000\nx\n", "must start with", id="srt-ish"),
        pytest.param("\nWEBVTT\n", "must start with 'WEBVTT'", id="leading-blank"),
        pytest.param("WEBVTTX\n", "followed by a space, a tab", id="header-glued"),
        pytest.param(
            "WEBVTT\n00:00:00.000 --> 00:00:01.000\nx\n",
            "line 2: a blank line is missing before this cue timing",
            id="no-blank-after-header",
        ),
        pytest.param(
            "WEBVTT\n\n00:00:00,000 --> 00:00:01,000\nx\n",
            "cue 1 (line 3): start time '00:00:00,000' is not a timestamp",
            id="srt-commas",
        ),
        pytest.param(
            "WEBVTT\n\n00:00:00.000 --> 00:00:61.000\nx\n",
            "cue 1 (line 3): end time '00:00:61.000' is not a timestamp",
            id="seconds-over-59",
        ),
        pytest.param(
            "WEBVTT\n\n0:00:00.000 --> 00:00:01.000\nx\n",
            "start time '0:00:00.000'",
            id="one-digit-hour",
        ),
        pytest.param(
            "WEBVTT\n\n00:00.00 --> 00:01.000\nx\n", "start time '00:00.00'", id="two-digit-ms"
        ),
        pytest.param("WEBVTT\n\n00:00.000 -->\nx\n", "end time ''", id="no-end"),
        pytest.param(
            "WEBVTT\n\n00:00.000 --> 00:01.000\na\n00:01.000 --> 00:02.000\nb\n",
            "line 5: a blank line is missing before this cue timing",
            id="missing-blank-between-cues",
        ),
        pytest.param(
            "WEBVTT\n\n00:00.000 --> 00:01.000\na\n\njust some words\n",
            "line 6: block is not a cue",
            id="stray-text",
        ),
    ],
)
def test_parse_vtt_rejects(text: str, message: str) -> None:
    """Garbage raises VttError whose message says what is wrong and where."""
    with pytest.raises(VttError, match=_literal(message)):
        parse_vtt(text)
    assert any(message in problem for problem in validate_vtt(text))


def _literal(message: str) -> str:
    return re.escape(message)


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param(GCORE_EXAMPLE, [], id="valid"),
        pytest.param(
            "WEBVTT\n\n00:02.000 --> 00:01.000\nx\n",
            ["cue 1 (line 3): end 00:00:01.000 is not after start 00:00:02.000"],
            id="end-before-start",
        ),
        pytest.param(
            "WEBVTT\n\n00:01.000 --> 00:01.000\nx\n",
            ["cue 1 (line 3): end 00:00:01.000 is not after start 00:00:01.000"],
            id="zero-length",
        ),
        pytest.param(
            "WEBVTT\n\n00:05.000 --> 00:06.000\na\n\n00:01.000 --> 00:02.000\nb\n",
            ["cue 2 (line 6): starts at 00:00:01.000, before cue 1 which starts at 00:00:05.000"],
            id="out-of-order",
        ),
        pytest.param(
            "WEBVTT\n\n00:01.000 --> 00:03.000\na\n\n00:02.500 --> 00:04.000\nb\n",
            [
                "cue 2 (line 6): starts at 00:00:02.500, "
                "overlapping cue 1 which ends at 00:00:03.000"
            ],
            id="overlap",
        ),
        pytest.param(
            "WEBVTT\n\n00:01.000 --> 00:02.000\na\n\n00:02.000 --> 00:03.000\nb\n",
            [],
            id="touching-is-fine",
        ),
        pytest.param(
            "WEBVTT\n\nx\n00:01.000 --> 00:02.000\na\n\nx\n00:03.000 --> 00:04.000\nb\n",
            ["cue 2 (line 8): identifier 'x' already used by cue 1"],
            id="duplicate-id",
        ),
        pytest.param(
            "WEBVTT\n\n00:01,000 --> 00:02.000\na\n\n00:00.000 --> 00:00.000\nb\n",
            [
                "cue 1 (line 3): start time '00:01,000' is not a timestamp"
                " (hh:mm:ss.ttt or mm:ss.ttt)",
                "cue 2 (line 6): end 00:00:00.000 is not after start 00:00:00.000",
            ],
            id="all-problems-reported",
        ),
    ],
)
def test_validate_vtt(text: str, problems: list[str]) -> None:
    """The validator lists every problem, naming the cue and line."""
    assert validate_vtt(text) == problems


def test_parse_tolerates_what_validate_reports() -> None:
    """Order and overlap are for the normaliser to repair, so parsing still succeeds."""
    text = "WEBVTT\n\n00:05.000 --> 00:06.000\na\n\n00:01.000 --> 00:02.000\nb\n"
    assert parse_vtt(text) == [Cue(5.0, 6.0, "a"), Cue(1.0, 2.0, "b")]


def test_to_vtt_layout() -> None:
    """The writer produces Gcore's layout: header, blank line, numbered blocks."""
    cues = [Cue(0.009, 3.689, "Come on team, …"), Cue(4.0, 5.5, "two\nlines")]
    assert to_vtt(cues) == (
        "WEBVTT\n\n"
        "1\n00:00:00.009 --> 00:00:03.689\nCome on team, …\n\n"
        "2\n00:00:04.000 --> 00:00:05.500\ntwo\nlines\n\n"
    )
    assert to_vtt([]) == "WEBVTT\n"


@pytest.mark.parametrize(
    ("text", "payload"),
    [
        ("a --> b", "a --&gt; b"),
        ("Tom & Jerry", "Tom &amp; Jerry"),
        ("x <b>y</b>", "x &lt;b&gt;y&lt;/b&gt;"),
        ("&amp; stays literal", "&amp;amp; stays literal"),
        ("one\n\n two \r\nthree", "one\ntwo\nthree"),
    ],
)
def test_to_vtt_escapes(text: str, payload: str) -> None:
    """Text that would break WebVTT syntax is escaped; blank lines cannot end a cue early."""
    written = to_vtt([Cue(0.0, 1.0, text)])
    assert written == f"WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.000\n{payload}\n\n"
    assert validate_vtt(written) == []


def test_to_vtt_rounds_to_milliseconds_and_rejects_negative_times() -> None:
    """Times are rounded to the millisecond; a negative time is a VttError naming the cue."""
    assert "00:00:01.235 --> 00:00:02.000" in to_vtt([Cue(1.2345, 1.9999, "x")])
    with pytest.raises(VttError, match="cue 2: negative time"):
        to_vtt([Cue(0.0, 1.0, "a"), Cue(-0.5, 1.0, "b")])


def test_from_gcore_segments() -> None:
    """Gcore's subtitles[] become cues; text is trimmed, times read as HH:MM:SS.mmm."""
    segments = [
        {"start_time": "00:00:00.009", "end_time": "00:00:03.689", "text": " Come on team, "},
        {"start_time": "01:02:03.4", "end_time": "01:02:05", "text": "Fungi in a Forest!"},
        {"start_time": "00:00:06.000", "end_time": "00:00:07.000", "text": None},
    ]
    assert from_gcore_segments(segments) == [
        Cue(0.009, 3.689, "Come on team,"),
        Cue(3723.4, 3725.0, "Fungi in a Forest!"),
        Cue(6.0, 7.0, ""),
    ]


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ({"end_time": "00:00:01.000", "text": "x"}, "segment 2: 'start_time' is missing"),
        (
            {"start_time": "00:00:01,000", "end_time": "00:00:02.000", "text": "x"},
            "segment 2: start_time '00:00:01,000' is not a HH:MM:SS.mmm time",
        ),
        (
            {"start_time": "00:00:01.000", "end_time": 2.0, "text": "x"},
            "segment 2: end_time 2.0 is not a HH:MM:SS.mmm time",
        ),
        (
            {"start_time": "00:61:01.000", "end_time": "00:62:00.000", "text": "x"},
            "segment 2: start_time '00:61:01.000'",
        ),
        (
            {"start_time": "00:00:01.000", "end_time": "00:00:02.000", "text": 7},
            "segment 2: 'text' must be a string",
        ),
        ("00:00:01.000 --> 00:00:02.000", "segment 2: expected an object"),
    ],
)
def test_from_gcore_segments_rejects(segment: object, message: str) -> None:
    """A malformed segment raises VttError naming the segment and the field."""
    good = {"start_time": "00:00:00.000", "end_time": "00:00:01.000", "text": "ok"}
    with pytest.raises(VttError, match=_literal(message)):
        from_gcore_segments([good, segment])  # type: ignore[list-item]


# Canonical cues: millisecond times, lines without surrounding blanks (what to_vtt writes).
_line = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
_text = st.lists(_line, min_size=1, max_size=3).map("\n".join)


@st.composite
def _cues(draw: st.DrawFn) -> list[Cue]:
    texts = draw(st.lists(_text, max_size=12))
    cues, at = [], draw(st.integers(0, 10_000_000))
    for text in texts:
        start = at + draw(st.integers(0, 5_000))
        end = start + draw(st.integers(1, 8_000))
        cues.append(Cue(start / 1000, end / 1000, text))
        at = end
    return cues


@settings(max_examples=200, deadline=None)
@given(_cues())
def test_round_trip(cues: list[Cue]) -> None:
    """Whatever to_vtt writes is valid and parses back to the same cues."""
    written = to_vtt(cues)
    assert validate_vtt(written) == []
    assert parse_vtt(written) == cues


@settings(max_examples=200, deadline=None)
@given(_cues())
def test_webvtt_py_reads_the_same_cues(cues: list[Cue]) -> None:
    """The independent webvtt-py parser reads our output as the same cues."""
    captions = webvtt.from_string(to_vtt(cues), strict=True)
    assert [
        (c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.text)
        for c in captions
    ] == [(cue.start, cue.end, html.escape(cue.text, quote=False)) for cue in cues]
    assert [html.unescape(c.text) for c in captions] == [cue.text for cue in cues]


def test_webvtt_py_agrees_on_a_hand_written_file() -> None:
    """On a file with ids, settings, notes and styles, both parsers see the same cues."""
    text = (
        "WEBVTT\n\nSTYLE\n::cue { color: lime }\n\nNOTE hi\n\n"
        "a\n00:00:01.000 --> 00:00:02.500 line:0\nhello\nworld\n\n"
        "00:00:03.000 --> 00:00:04.000\nbye &amp; thanks\n"
    )
    ours = parse_vtt(text)
    theirs = webvtt.from_string(text, strict=True)
    assert [(c.start, c.end, c.text) for c in ours] == [
        (
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            html.unescape(c.text),
        )
        for c in theirs
    ]
