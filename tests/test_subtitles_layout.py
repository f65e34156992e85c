"""Line breaking per language (handler.subtitles: normalise re-wraps every cue).

Each case states the most even break too: that is where a rule-less wrapper would break,
so each case shows the rule under test moving the break, not the balance.
"""

from __future__ import annotations

import pytest

from handler.subtitles import Cue, normalise


def _wrapped(text: str, language: str, preset: str = "netflix") -> str:
    """The text of a cue with time enough for it, after normalising."""
    out, _ = normalise([Cue(0.0, 6.0, text)], language, preset)
    assert len(out) == 1
    return out[0].text


def _most_even(text: str, width: int, spaced: bool = True) -> str:
    """The two-line break with the most even lengths: what a wrapper without rules picks."""
    units = text.split() if spaced else list(text)
    glue = " " if spaced else ""
    options = []
    for cut in range(1, len(units)):
        top, bottom = glue.join(units[:cut]), glue.join(units[cut:])
        if len(top) <= width and len(bottom) <= width:
            options.append((abs(len(top) - len(bottom)), f"{top}\n{bottom}"))
    return min(options)[1]


def test_text_that_fits_stays_on_one_line() -> None:
    """Netflix: keep text on one line unless it exceeds the limit (42 characters)."""
    text = "This sentence is exactly forty-two chars!!"
    assert len(text) == 42
    assert _wrapped(text, "eng") == text
    assert _wrapped("Two short\nlines", "eng") == "Two short lines"
    assert _wrapped(text + " x", "eng").count("\n") == 1


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        pytest.param(
            "eng",
            "Yesterday we walked all the way down to the old harbour",
            "Yesterday we walked all the way\ndown to the old harbour",
            id="eng-article+noun",
        ),
        pytest.param(
            "eng",
            "I waited there for hours in the rain, but nobody came",
            "I waited there for hours in the rain,\nbut nobody came",
            id="eng-after-comma",
        ),
        pytest.param(
            "eng",
            "Nobody knew what to do when the lights suddenly went out",
            "Nobody knew what to do\nwhen the lights suddenly went out",
            id="eng-before-conjunction",
        ),
        pytest.param(
            "eng",
            "After the long walk along the river we sat down for lunch",
            "After the long walk\nalong the river we sat down for lunch",
            id="eng-before-preposition",
        ),
        pytest.param(
            "eng",
            "The students honestly believed Pablo Picasso knew everything already",
            "The students honestly believed\nPablo Picasso knew everything already",
            id="eng-first+last-name",
        ),
        pytest.param(
            "eng",
            "Every single morning she walks our dog around the park",
            "Every single morning she walks\nour dog around the park",
            id="eng-pronoun+verb",
        ),
        pytest.param(
            "fre",
            "Nous avons rencontré le directeur de la banque hier soir",
            "Nous avons rencontré le directeur\nde la banque hier soir",
            id="fre-article+noun",
        ),
        pytest.param(
            "fre",
            "Tu es sûr ? Je ne te crois pas du tout, mon ami",
            "Tu es sûr ?\nJe ne te crois pas du tout, mon ami",
            id="fre-after-question-mark",
        ),
        pytest.param(
            "ger",
            "Wir haben am Wochenende das neue Museum in der Stadt besucht",
            "Wir haben am Wochenende das neue Museum\nin der Stadt besucht",
            id="ger-article+noun",
        ),
        pytest.param(
            "ger",
            "Ich habe lange gewartet, weil der Zug wieder zu spät war",
            "Ich habe lange gewartet,\nweil der Zug wieder zu spät war",
            id="ger-after-comma",
        ),
        pytest.param(
            "ger",
            "Wir sind gestern sehr lange geblieben und haben viel gelacht",
            "Wir sind gestern sehr lange geblieben\nund haben viel gelacht",
            id="ger-before-conjunction",
        ),
    ],
)
def test_latin_breaks(language: str, text: str, expected: str) -> None:
    """Break after punctuation, before conjunctions and prepositions; never inside
    article+noun, first+last name or pronoun+verb."""
    assert _most_even(text, 42) != expected
    assert _wrapped(text, language) == expected


def test_punctuation_never_starts_a_line() -> None:
    """French puts a space before "?": the mark still stays on its sentence's line."""
    text = "Il ne viendra pas ce soir avec nous ? Vraiment ? Tant pis."
    lines = _wrapped(text, "fre").split("\n")
    assert all(line[0].isalnum() for line in lines)


def test_translated_track_is_reflowed_for_its_language() -> None:
    """Line breaks carried over from another language are dropped and laid out again."""
    text = "Je pense que nous devrions aller voir la\nmaison avant la fin de la semaine."
    assert _wrapped(text, "fre") == (
        "Je pense que nous devrions aller voir\nla maison avant la fin de la semaine."
    )


def test_dialogue_dash_starts_a_line() -> None:
    """Two speakers in one cue: the second speaker's dash opens the second line."""
    text = "- Did you really see him there yesterday? - No, I did not."
    assert _wrapped(text, "eng") == "- Did you really see him there yesterday?\n- No, I did not."


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        pytest.param(
            "jpn",
            "私は昨日東京の大きな本屋で新しい日本語の辞書を買いました。",
            "私は昨日東京の大きな本屋で\n新しい日本語の辞書を買いました。",
            id="jpn-after-particle",
        ),
        pytest.param(
            "jpn",
            "今日はとても暑かったので、ずっと家にいました。",
            "今日はとても暑かったので、\nずっと家にいました。",
            id="jpn-after-comma",
        ),
        pytest.param(
            "chi",
            "如果明天不下雨的话，我们就一起去公园散步吧。",
            "如果明天不下雨的话，\n我们就一起去公园散步吧。",
            id="chi-after-comma",
        ),
        pytest.param(
            "chi",
            "我们今天在北京见到了很多老朋友，大家都很高兴",
            "我们今天在北京见到了\n很多老朋友，大家都很高兴",
            id="chi-after-particle",
        ),
    ],
)
def test_cjk_breaks(language: str, text: str, expected: str) -> None:
    """Japanese and Chinese: 16 characters a line, broken between characters at the best
    point."""
    assert _most_even(text, 16, spaced=False) != expected
    assert _wrapped(text, language) == expected
    assert all(len(line) <= 16 for line in expected.split("\n"))


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("jpn", "あいうえおかきくけこさしすせそっ、たちつてと"),
        ("jpn", "これはほんとうにたいせつなもの。ですよね、ぜったい"),
        ("chi", "我们今天在北京见到了很多老朋友，大家都很高兴"),
    ],
)
def test_kinsoku_no_line_starts_with_closing_marks(language: str, text: str) -> None:
    """No line starts with 、。，or a small kana (kinsoku shori)."""
    lines = _wrapped(text, language).split("\n")
    assert "".join(lines) == text
    assert all(line[0] not in "、。，っゃゅょ" for line in lines)


def test_latin_phrase_in_chinese_stays_whole() -> None:
    """A Latin phrase inside Chinese text keeps its spaces and is not broken up."""
    text = "我昨天用新的iPhone 15 Pro拍了很多很好看的照片给朋友们看"
    out, _ = normalise([Cue(0.0, 6.0, text)], "chi")
    assert len(out) == 2
    assert any("iPhone 15 Pro" in cue.text for cue in out)
    assert "".join(cue.text.replace("\n", "") for cue in out) == text


def test_vertical_allows_three_short_lines() -> None:
    """vertical: about 25 characters, up to three lines."""
    text = "We drove through the night to reach the coast before sunrise"
    lines = _wrapped(text, "eng", "vertical").split("\n")
    assert len(lines) == 3
    assert all(len(line) <= 25 for line in lines)
    assert " ".join(lines) == text


def test_bbc_uses_37_characters() -> None:
    """bbc: 37 characters a line, so 38 to 42 characters take two lines."""
    text = "I will call you tomorrow after the meeting"
    assert len(text) == 42
    assert _wrapped(text, "eng", "netflix") == text
    assert _wrapped(text, "eng", "bbc") == "I will call you tomorrow\nafter the meeting"
