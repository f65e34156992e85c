"""The hallucination filter: known phrases, loops and over-compressible text.

Removed cues must be listed in the QC report with their times, text and reason.
"""

from __future__ import annotations

import pytest

from handler.subtitles import Cue, normalise
from handler.subtitles.hallucination import compression_ratio

KNOWN = [
    ("eng", "Thanks for watching!"),
    ("eng", "Thank you so much for watching. Please subscribe!"),
    ("eng", "Don't forget to like and subscribe."),
    ("eng", "Subtitles by the Amara.org community"),
    ("eng", "Transcribed by ESO, translated by —"),
    ("fre", "Merci d'avoir regardé cette vidéo !"),
    ("fre", "Sous-titres réalisés par la communauté d'Amara.org"),
    ("fre", "Sous-titrage Société Radio-Canada"),
    ("fre", "Abonnez-vous à la chaîne !"),
    ("ger", "Vielen Dank fürs Zuschauen!"),
    ("ger", "Untertitel im Auftrag des ZDF, 2017"),
    ("ger", "Untertitelung des ZDF, 2020"),
    ("ger", "Untertitel der Amara.org-Community"),
    ("spa", "¡Gracias por ver el video!"),
    ("spa", "Subtítulos realizados por la comunidad de Amara.org"),
    ("spa", "Suscríbete al canal"),
    ("ita", "Grazie per la visione!"),
    ("ita", "Sottotitoli creati dalla comunità Amara.org"),
    ("por", "Obrigado por assistir!"),
    ("por", "Legendas pela comunidade Amara.org"),
    ("por", "Inscreva-se no canal!"),
    ("rus", "Спасибо за просмотр!"),
    ("rus", "Субтитры сделал DimaTorzok"),
    ("rus", "Продолжение следует..."),
    ("jpn", "ご視聴ありがとうございました"),
    ("jpn", "チャンネル登録お願いします。"),
    ("chi", "谢谢观看！"),
    ("chi", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目"),
    ("chi", "字幕由Amara.org社区提供"),
]


def _track(text: str) -> list[Cue]:
    return [
        Cue(0.0, 2.0, "Real speech here."),
        Cue(3.0, 6.0, text),
        Cue(7.0, 9.0, "More real speech."),
    ]


@pytest.mark.parametrize(("language", "text"), KNOWN)
def test_known_phrases_are_removed(language: str, text: str) -> None:
    """Thanks/subscribe/credit lines Whisper invents are removed in every language."""
    out, report = normalise(_track(text), language)
    assert text not in [cue.text for cue in out]
    assert len(out) == 2
    assert [(r.start, r.end, r.text, r.reason) for r in report.removed] == [
        (3.0, 6.0, text, "known_phrase")
    ]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("eng", "Thank you."),
        ("eng", "Thanks for watching, and now on to the recipe itself."),
        ("eng", "The subtitles by the window were hard to read."),
        ("fre", "Merci beaucoup, à demain."),
        ("ger", "Danke schön."),
        ("rus", "Спасибо за внимание, вопросы?"),
        ("jpn", "ありがとうございました。"),
        ("chi", "谢谢你，我明天再来。"),
    ],
)
def test_speech_that_resembles_a_phrase_is_kept(language: str, text: str) -> None:
    """Only a cue made up of known phrases goes; real speech around them stays."""
    out, report = normalise(_track(text), language)
    assert report.removed == ()
    assert len(out) == 3


def test_loop_keeps_the_first_and_removes_the_repeats() -> None:
    """The same text in 3+ consecutive cues is a loop: the repeats go, listed as such."""
    cues = [Cue(float(n * 2), float(n * 2 + 1.5), "I'm going home.") for n in range(5)]
    cues[3] = Cue(6.0, 7.5, "i'm going HOME")  # case and punctuation do not hide a loop
    cues.append(Cue(10.0, 12.0, "Goodbye."))
    out, report = normalise(cues, "eng")
    assert [c.text for c in out] == ["I'm going home.", "Goodbye."]
    assert [r.reason for r in report.removed] == ["repeated"] * 4
    assert [r.start for r in report.removed] == [2.0, 4.0, 6.0, 8.0]


def test_two_repeats_are_not_a_loop() -> None:
    """A phrase said twice in a row is speech ("No. No."), not a loop."""
    cues = [Cue(0.0, 1.5, "No."), Cue(2.0, 3.5, "No."), Cue(5.0, 7.0, "Fine.")]
    out, report = normalise(cues, "eng")
    assert report.removed == ()
    assert len(out) == 3


def test_loop_broken_by_other_text_is_not_a_loop() -> None:
    """Repeats must be consecutive."""
    texts = ["Go.", "Go.", "Wait.", "Go.", "Go."]
    cues = [Cue(float(n * 2), float(n * 2 + 1.5), t) for n, t in enumerate(texts)]
    _, report = normalise(cues, "eng")
    assert report.removed == ()


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("eng", "la la la la la la la la la la la la la la la la la la la la"),
        ("eng", "Oh no, oh no, oh no, oh no, oh no, oh no, oh no, oh no, oh no"),
        ("jpn", "あああああああああああああああああああああああああああああああ"),
        ("chi", "好的好的好的好的好的好的好的好的好的好的好的好的"),
    ],
)
def test_text_that_compresses_too_well_is_removed(language: str, text: str) -> None:
    """A stuck decoder repeats itself inside one cue; zlib notices (ratio over 2.4)."""
    assert compression_ratio(text) > 2.4
    out, report = normalise(_track(text), language)
    assert len(out) == 2
    assert [r.reason for r in report.removed] == ["compression"]


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "eng",
            "I told you that the man in the car was my father, and he left us when I was "
            "only seven years old.",
        ),
        ("fre", "Je pense que nous devrions aller voir la maison avant la fin de la semaine."),
        ("ger", "Ich habe lange gewartet, weil der Zug wieder einmal viel zu spät war."),
        ("jpn", "私は昨日東京の大きな本屋で新しい日本語の辞書を買いました。"),
        ("chi", "如果明天不下雨的话，我们就一起去公园散步吧。"),
    ],
)
def test_ordinary_speech_compresses_like_speech(language: str, text: str) -> None:
    """Ordinary sentences stay well under the compression limit and are kept."""
    assert compression_ratio(text) < 1.6
    _, report = normalise(_track(text), language)
    assert report.removed == ()
