"""Pure decisions of handler.pipeline: renditions, planning, polling, results."""

from __future__ import annotations

import html
import io
import itertools
import json
from typing import Any

import pytest
import webvtt

from handler import languages, pipeline
from handler.gcore import Rendition, Subtitle, Video
from handler.ledger import SPOKEN, NewTrack
from handler.subtitles import VttError
from handler.tokens import Profile

# --- renditions ----------------------------------------------------------------------------


def _r(height: int | None, status: str = "complete", *, mp4: bool = True) -> Rendition:
    name = f"vod{height}p" if height else "audio"
    url = f"https://cdn.test/videos/1_x/qid1_h264_800_{height or 0}.mp4" if mp4 else None
    return Rendition(name=name, height=height, status=status, mp4_url=url)


def _video(status: str, *renditions: Rendition, error: str | None = None) -> Video:
    return Video(id=7, status=status, error=error, converted_videos=list(renditions))


@pytest.mark.parametrize(
    ("video", "height", "wait", "reason"),
    [
        pytest.param(
            _video("ready", _r(360), _r(480), _r(720), _r(1080)), 480, False, "", id="prefers-480"
        ),
        pytest.param(
            _video("viewable", _r(360), _r(720), _r(480, "processing")),
            None,
            True,
            "vod480p",
            id="viewable-waits-for-closer-processing",
        ),
        pytest.param(
            _video("ready", _r(720), _r(1080), _r(480, "processing")),
            720,
            False,
            "",
            id="ready-takes-best-complete",
        ),
        pytest.param(
            _video("viewable", _r(480), _r(720, "processing")),
            480,
            False,
            "",
            id="viewable-closest-already-complete",
        ),
        pytest.param(
            _video("viewable", _r(720), _r(1080, "processing")),
            720,
            False,
            "",
            id="viewable-processing-one-is-farther",
        ),
        pytest.param(_video("ready", _r(600), _r(360)), 360, False, "", id="tie-takes-lower"),
        pytest.param(
            _video("viewable", _r(480, "error"), _r(720), error="storage limit exceeded"),
            720,
            False,
            "",
            id="errored-rendition-ignored",
        ),
        pytest.param(
            _video("error", _r(480, "error"), error="Unsupported codec"),
            None,
            False,
            "Unsupported codec",
            id="video-error",
        ),
        pytest.param(
            _video("ready", _r(480, mp4=False), _r(720, mp4=False)),
            None,
            False,
            "MP4",
            id="ready-without-mp4-url",
        ),
        pytest.param(
            _video("viewable", _r(480, mp4=False)),
            None,
            True,
            "no complete MP4",
            id="viewable-without-mp4-url-waits",
        ),
        pytest.param(_video("pending"), None, True, "no complete MP4", id="pending-no-renditions"),
        pytest.param(
            _video("ready", _r(None)), None, False, "", id="ready-audio-only-rendition-is-used"
        ),
        pytest.param(
            _video("viewable", _r(None), _r(480, "processing")),
            None,
            True,
            "",
            id="viewable-audio-only-waits-for-video-rendition",
        ),
        pytest.param(
            _video("viewable", _r(480, mp4=False), _r(720)),
            720,
            False,
            "",
            id="closer-complete-rendition-without-mp4-is-not-waited-for",
        ),
    ],
)
def test_choose_rendition(video: Video, height: int | None, wait: bool, reason: str) -> None:
    """The MP4 closest to 480p is chosen; a closer one still transcoding is waited for."""
    choice = pipeline.choose_rendition(video, preferred_height=480)
    assert choice.wait is wait
    chosen = choice.rendition
    if height is None and not wait and not reason:
        assert chosen is not None  # the audio-only case: a rendition without a height
        assert chosen.mp4_url
    elif height is None:
        assert chosen is None
    else:
        assert chosen is not None
        assert chosen.height == height
        assert chosen.mp4_url
    assert reason in choice.reason


@pytest.mark.parametrize(
    ("event_status", "delay"),
    [("empty", 60.0), ("pending", 60.0), (None, 60.0), ("viewable", 0.0), ("ready", 0.0)],
)
def test_rendition_recheck_in(event_status: str | None, delay: float) -> None:
    """A not-yet-playable video is looked at again after a minute; a playable one at once."""
    assert pipeline.rendition_recheck_in(event_status) == delay


# --- existing tracks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtitle", "expected"),
    [
        (Subtitle(id=1, name="French (AI-generated)", language="fre"), [("fre", 1, True)]),
        (Subtitle(id=2, name="French", language="fre"), [("fre", 2, False)]),
        (Subtitle(id=3, name="French (AI-generated)", language="ger"), [("ger", 3, False)]),
        (Subtitle(id=4, name="Untitled", language=None), []),
    ],
    ids=["ours", "human", "our-name-other-language", "no-language"],
)
def test_existing_tracks(subtitle: Subtitle, expected: list[tuple[str, int, bool]]) -> None:
    """Only a track with exactly our name in its own language counts as ours."""
    found = pipeline.existing_tracks([subtitle])
    assert [(t.language, t.subtitle_id, t.ours) for t in found] == expected
    for track in found:
        assert pipeline.ExistingTrack.from_dict(track.as_dict()) == track


# --- planning ------------------------------------------------------------------------------

OURS_FRE = pipeline.ExistingTrack("fre", 31, ours=True)
HUMAN_FRE = pipeline.ExistingTrack("fre", 32, ours=False)
HUMAN_ENG = pipeline.ExistingTrack("eng", 33, ours=False)
OURS_ENG = pipeline.ExistingTrack("eng", 34, ours=True)


def _summary(track: NewTrack) -> tuple[Any, ...]:
    reason = (track.reason or "").split(":")[0] or None
    return (track.target, track.kind, track.state, track.language, track.subtitle_id, reason)


@pytest.mark.parametrize(
    ("profile", "existing", "supported", "expected"),
    [
        pytest.param(
            Profile(languages=("fre", "ger")),
            [HUMAN_FRE],
            {},
            [
                (SPOKEN, "transcription", "planned", None, None, None),
                ("fre", "translation", "waiting", "fre", None, None),
                ("ger", "translation", "waiting", "ger", None, None),
            ],
            id="auto-translations-wait-for-the-transcription",
        ),
        pytest.param(
            Profile(),
            [],
            {},
            [(SPOKEN, "transcription", "planned", None, None, None)],
            id="auto-transcription-only",
        ),
        pytest.param(
            Profile(languages=("fre", "ger"), audio_language="eng"),
            [],
            {},
            [
                (SPOKEN, "transcription", "planned", "eng", None, None),
                ("fre", "translation", "planned", "fre", None, None),
                ("ger", "translation", "planned", "ger", None, None),
            ],
            id="fixed-source-starts-everything",
        ),
        pytest.param(
            Profile(languages=("eng", "fre"), audio_language="eng"),
            [],
            {},
            [
                (SPOKEN, "transcription", "planned", "eng", None, None),
                ("fre", "translation", "planned", "fre", None, None),
            ],
            id="target-equal-to-source-gets-no-task",
        ),
        pytest.param(
            Profile(languages=("fre",), audio_language="eng"),
            [HUMAN_FRE],
            {},
            [
                (SPOKEN, "transcription", "planned", "eng", None, None),
                ("fre", "translation", "skipped", "fre", None, "exists"),
            ],
            id="foreign-track-skipped-exists",
        ),
        pytest.param(
            Profile(languages=("fre",), audio_language="eng"),
            [OURS_FRE],
            {},
            [
                (SPOKEN, "transcription", "planned", "eng", None, None),
                ("fre", "translation", "attached", "fre", 31, "adopted an existing autosubs track"),
            ],
            id="our-track-adopted",
        ),
        pytest.param(
            Profile(languages=("fre",), audio_language="eng"),
            [HUMAN_ENG],
            {},
            [
                (SPOKEN, "transcription", "skipped", "eng", None, "exists"),
                ("fre", "translation", "planned", "fre", None, None),
            ],
            id="source-language-track-exists",
        ),
        pytest.param(
            Profile(languages=(), audio_language="eng"),
            [OURS_ENG],
            {},
            [
                (
                    SPOKEN,
                    "transcription",
                    "attached",
                    "eng",
                    34,
                    "adopted an existing autosubs track",
                )
            ],
            id="our-source-track-adopted",
        ),
        pytest.param(
            Profile(languages=("uzb", "fre"), audio_language="ger"),
            [],
            {("ger", "uzb"): False, ("ger", "fre"): True},
            [
                (SPOKEN, "transcription", "planned", "ger", None, None),
                ("uzb", "translation", "skipped", "uzb", None, "unsupported"),
                ("fre", "translation", "planned", "fre", None, None),
            ],
            id="unsupported-pair-skipped",
        ),
    ],
)
def test_plan_tracks(
    profile: Profile,
    existing: list[pipeline.ExistingTrack],
    supported: dict[tuple[str, str], bool],
    expected: list[tuple[Any, ...]],
) -> None:
    """One job per language: existing tracks are adopted or respected, never duplicated."""
    assert [_summary(t) for t in pipeline.plan_tracks(profile, existing, supported)] == expected


def test_plan_tracks_names_the_unsupported_pair() -> None:
    """An unsupported pair's reason says which translation Gcore cannot do."""
    profile = Profile(languages=("uzb",), audio_language="ger")
    plans = pipeline.plan_tracks(profile, [], {("ger", "uzb"): False})
    assert plans[1].reason is not None
    assert "ger => uzb" in plans[1].reason


@pytest.mark.parametrize(
    ("languages", "source", "expected"),
    [
        (("fre", "ger"), None, []),
        (("fre", "eng", "ger"), "eng", [("eng", "fre"), ("eng", "ger")]),
        ((), "eng", []),
    ],
)
def test_pairs_to_check(
    languages: tuple[str, ...], source: str | None, expected: list[tuple[str, str]]
) -> None:
    """Only real translations (target differs from the source) need a support check."""
    assert pipeline.pairs_to_check(Profile(languages=languages), source) == expected


@pytest.mark.parametrize(
    ("source", "outcome", "existing", "supported", "expected"),
    [
        pytest.param("eng", "ok", [], {}, ("planned", None), id="ok-starts"),
        pytest.param(
            "eng", "no_speech", [], {}, ("skipped", "no_speech"), id="no-speech-skips-all"
        ),
        pytest.param(
            "eng", "failed: FAILURE: boom", [], {}, ("failed", "boom"), id="failed-fails-all"
        ),
        pytest.param(None, "ok", [], {}, ("failed", ""), id="no-source-language"),
        pytest.param("fre", "ok", [], {}, ("skipped", "same language"), id="same-as-source"),
        pytest.param("eng", "ok", [HUMAN_FRE], {}, ("skipped", "exists"), id="foreign-exists"),
        pytest.param("eng", "ok", [OURS_FRE], {}, ("planned", None), id="ours-found-again-later"),
        pytest.param(
            "eng",
            "ok",
            [],
            {("eng", "fre"): False},
            ("skipped", "eng => fre"),
            id="unsupported",
        ),
    ],
)
def test_settle_translations(
    source: str | None,
    outcome: str,
    existing: list[pipeline.ExistingTrack],
    supported: dict[tuple[str, str], bool],
    expected: tuple[str, str | None],
) -> None:
    """The transcription's outcome decides each waiting translation."""
    decisions = pipeline.settle_translations(
        ["fre"], source=source, outcome=outcome, existing=existing, supported=supported
    )
    state, reason = decisions["fre"]
    assert state == expected[0]
    if expected[1] is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected[1] in reason


def test_settle_translations_decides_every_target() -> None:
    """Every waiting target gets a decision, each on its own facts."""
    decisions = pipeline.settle_translations(
        ["fre", "ger", "eng"],
        source="eng",
        outcome="ok",
        existing=[HUMAN_FRE],
        supported={},
    )
    assert {k: v[0] for k, v in decisions.items()} == {
        "fre": "skipped",
        "ger": "planned",
        "eng": "skipped",
    }


# --- tasks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("video_id", "target", "attempt", "marker"),
    [
        (42, SPOKEN, 1, "autosubs:42:src:1"),
        (42, "fre", 2, "autosubs:42:fre:2"),
        (9_999_999_999, "ger", 10, "autosubs:9999999999:ger:10"),
    ],
)
def test_job_marker(video_id: int, target: str, attempt: int, marker: str) -> None:
    """Our tasks carry a readable marker naming the video, language and attempt."""
    assert pipeline.job_marker(video_id, target, attempt) == marker
    assert len(marker) <= 256  # Gcore's client_user_id limit


def test_job_markers_are_distinct() -> None:
    """No two jobs or attempts share a marker."""
    grid = list(itertools.product((1, 11, 42), (SPOKEN, "fre", "ger"), (1, 2, 10)))
    markers = {pipeline.job_marker(*key) for key in grid}
    assert len(markers) == len(grid)


@pytest.mark.parametrize(
    ("video_id", "target", "attempt"), [(42, SPOKEN, 1), (42, "fre", 3), (1, "ger", 10)]
)
def test_entity_data(video_id: int, target: str, attempt: int) -> None:
    """client_entity_data is compact JSON carrying our job key and the profile."""
    profile = Profile(languages=tuple(languages.all_codes()[:20]), audio_language="eng")
    text = pipeline.entity_data(video_id, target, attempt, profile)
    assert json.loads(text) == {
        "autosubs": 1,
        "video_id": video_id,
        "target": target,
        "attempt": attempt,
        "profile": profile.model_dump(mode="json"),
    }
    assert " " not in text
    assert len(text) <= 4096  # Gcore's client_entity_data limit, even with 20 languages
    assert pipeline.parse_entity_data(text) == (video_id, target, attempt, profile)


@pytest.mark.parametrize(
    "text", [None, "", "{}", "not json", '{"autosubs": 2}', '{"autosubs": 1, "video_id": 1}', "[]"]
)
def test_parse_entity_data_ignores_other_tasks(text: str | None) -> None:
    """Tasks that are not ours (Gcore's own, other tools') parse to None."""
    assert pipeline.parse_entity_data(text) is None


@pytest.mark.parametrize(
    ("duration_s", "expected"),
    [(None, 5.0 + 0.4 * 60), (0.0, 5.0 + 0.4 * 60), (100.0, 45.0), (3600.0, 1445.0)],
)
def test_task_time_model_expected(duration_s: float | None, expected: float) -> None:
    """Before any sample, a task is expected to take base + 0.4 s per second of video."""
    assert pipeline.TaskTimeModel().expected(duration_s) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("duration_s", "total_s"), [(None, 50.0), (0.0, 50.0), (-3.0, 50.0), (100.0, 0.0)]
)
def test_task_time_model_ignores_useless_samples(duration_s: float | None, total_s: float) -> None:
    """Samples without a length or a time teach nothing."""
    model = pipeline.TaskTimeModel()
    model.learn(duration_s, total_s)
    assert (model.seconds_per_second, model.samples) == (0.4, 0)


def test_task_time_model_learns() -> None:
    """Finished tasks move the estimate towards the observed rate, and it converges."""
    model = pipeline.TaskTimeModel()
    model.learn(100.0, 105.0)  # 1 s per second of video
    assert model.samples == 1
    assert model.seconds_per_second == pytest.approx(0.7)
    for _ in range(200):
        model.learn(100.0, 105.0)
    assert model.seconds_per_second == pytest.approx(1.0, abs=1e-3)
    assert model.expected(100.0) == pytest.approx(105.0, abs=0.5)


@pytest.mark.parametrize(
    ("kwargs", "low", "high"),
    [
        pytest.param(
            {"progress": 50, "running_for": 100.0, "created_ago": 120.0, "expected_total": 500},
            100.0,
            110.0,
            id="half-done-extrapolates",
        ),
        pytest.param(
            {"progress": 90, "running_for": 900.0, "created_ago": 900.0, "expected_total": 10},
            100.0,
            125.0,
            id="progress-beats-the-expectation",
        ),
        pytest.param(
            {"progress": 1, "running_for": 10.0, "created_ago": 10.0, "expected_total": 30},
            300.0,
            300.0,
            id="clamped-to-ceiling",
        ),
        pytest.param(
            {"progress": 100, "running_for": 50.0, "created_ago": 60.0, "expected_total": 30},
            5.0,
            5.0,
            id="clamped-to-floor",
        ),
        pytest.param(
            {"progress": None, "running_for": None, "created_ago": 10.0, "expected_total": 100},
            45.0,
            89.9,
            id="no-progress-aims-before-expected-finish",
        ),
        pytest.param(
            {"progress": 0, "running_for": 5.0, "created_ago": 10.0, "expected_total": 100},
            45.0,
            89.9,
            id="zero-progress-is-no-progress",
        ),
        pytest.param(
            {"progress": 40, "running_for": None, "created_ago": 10.0, "expected_total": 100},
            45.0,
            89.9,
            id="progress-without-start-time-is-no-progress",
        ),
        pytest.param(
            {"progress": None, "running_for": None, "created_ago": 200.0, "expected_total": 100},
            100.0,
            100.0,
            id="overdue-waits-half-the-elapsed-time",
        ),
        pytest.param(
            {"progress": None, "running_for": None, "created_ago": 0.0, "expected_total": 3},
            5.0,
            5.0,
            id="no-progress-floor",
        ),
        pytest.param(
            {"progress": None, "running_for": None, "created_ago": 0.0, "expected_total": 1e6},
            300.0,
            300.0,
            id="no-progress-ceiling",
        ),
    ],
)
def test_next_poll_delay(kwargs: dict[str, Any], low: float, high: float) -> None:
    """The next poll lands just after the predicted finish, within floor and ceiling."""
    delay = pipeline.next_poll_delay(**kwargs, floor=5.0, ceiling=300.0)
    assert low <= delay <= high


@pytest.mark.parametrize(
    ("attempt", "kwargs", "delay"),
    [
        (0, {}, 30.0),
        (1, {}, 30.0),
        (2, {}, 60.0),
        (3, {}, 120.0),
        (10, {}, 900.0),
        (3, {"base": 1.0, "cap": 3.0}, 3.0),
        (2, {"base": 1.0, "cap": 3.0}, 2.0),
    ],
)
def test_retry_delay(attempt: int, kwargs: dict[str, float], delay: float) -> None:
    """Retries back off exponentially from the base up to the cap."""
    assert pipeline.retry_delay(attempt, **kwargs) == delay


@pytest.mark.parametrize(
    ("result", "status", "reason"),
    [
        (
            {"error": "Unsupported file type: x.zip"},
            "FAILURE",
            "FAILURE: Unsupported file type: x.zip",
        ),
        (None, "FAILURE", "FAILURE without a reason from Gcore"),
        ({}, "REVOKED", "REVOKED without a reason from Gcore"),
        ({"error": {"code": 1}}, "FAILURE", "FAILURE without a reason from Gcore"),
    ],
)
def test_failure_reason(result: dict[str, Any] | None, status: str, reason: str) -> None:
    """A failed task's reason is Gcore's own sentence when there is one."""
    assert pipeline.failure_reason(result, status) == reason


@pytest.mark.parametrize(
    ("result", "requested", "language"),
    [
        ({"languages": ["ger"]}, "eng", "eng"),
        ({"languages": ["eng", "fre"]}, None, "eng"),
        ({"languages": ["deu"]}, None, "ger"),
        ({"languages": ["xx", "FRA"]}, None, "fre"),
        ({"languages": []}, None, None),
        ({}, None, None),
        ({"languages": None}, None, None),
    ],
)
def test_detected_language(
    result: dict[str, Any], requested: str | None, language: str | None
) -> None:
    """The spoken language is the requested one, else the first known one Gcore detected."""
    assert pipeline.detected_language(result, requested) == language


# --- results -------------------------------------------------------------------------------

GCORE_VTT = "WEBVTT\n\n1\n00:00:00.009 --> 00:00:03.689\nCome on team, …\n\n"
SPEC_FLATTENED = "WEBVTT 1 00:00:00.009 --> 00:00:03.689 text"
SEGMENTS = [
    {"start_time": "00:00:00.009", "end_time": "00:00:03.689", "text": "text"},
    {"start_time": "00:00:04.000", "end_time": "00:00:05.500", "text": "a <b> & c --> d"},
]


def _their_cues(vtt: str) -> list[tuple[float, float, str]]:
    """The cues as the independent webvtt-py parser reads them."""
    return [
        (
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            html.unescape(c.text),
        )
        for c in webvtt.from_string(vtt, strict=True)
    ]


@pytest.mark.parametrize(
    ("result", "source", "cues"),
    [
        pytest.param(
            {"speech_detected": True, "vttContent": GCORE_VTT, "subtitles": SEGMENTS},
            "vttContent",
            [(0.009, 3.689, "Come on team, …")],
            id="valid-vttContent-used",
        ),
        pytest.param(
            {"speech_detected": True, "vttContent": SPEC_FLATTENED, "subtitles": SEGMENTS[:1]},
            "subtitles[]",
            [(0.009, 3.689, "text")],
            id="flattened-vttContent-rebuilt",
        ),
        pytest.param(
            {"speech_detected": True, "subtitles": SEGMENTS},
            "subtitles[]",
            [(0.009, 3.689, "text"), (4.0, 5.5, "a <b> & c --> d")],
            id="no-vttContent-markup-escaped",
        ),
        pytest.param(
            {
                "vttContent": "WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nb\n\n"
                "00:00:01.000 --> 00:00:02.000\na\n",
                "subtitles": SEGMENTS[:1],
            },
            "subtitles[]",
            [(0.009, 3.689, "text")],
            id="unordered-vttContent-rebuilt",
        ),
        pytest.param(
            {"vttContent": "WEBVTT\n\n", "subtitles": SEGMENTS[:1]},
            "subtitles[]",
            [(0.009, 3.689, "text")],
            id="cue-less-vttContent-falls-back",
        ),
        pytest.param(
            {"vttContent": None, "subtitles": SEGMENTS[:1]},
            "subtitles[]",
            [(0.009, 3.689, "text")],
            id="null-vttContent",
        ),
    ],
)
def test_track_text(result: dict[str, Any], source: str, cues: list[Any]) -> None:
    """Valid vttContent is used; anything else is rebuilt from subtitles[] as valid WebVTT."""
    # Preset "off" leaves the cues as Gcore sent them, so the source is visible exactly.
    text = pipeline.track_text(result, "eng", "off")
    assert text.source == source
    assert not text.no_speech
    assert text.vtt is not None
    assert _their_cues(text.vtt) == cues


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(
            {"speech_detected": False, "vttContent": GCORE_VTT, "subtitles": SEGMENTS},
            id="speech-detected-false",
        ),
        pytest.param(
            {"speech_detected": True, "vttContent": "WEBVTT\n\n", "subtitles": []},
            id="no-cues",
        ),
        pytest.param({"speech_detected": True}, id="nothing"),
        pytest.param(
            {
                "subtitles": [
                    {"start_time": "00:00:01.000", "end_time": "00:00:02.000", "text": " "}
                ]
            },
            id="blank-cues",
        ),
        pytest.param({"vttContent": SPEC_FLATTENED, "subtitles": None}, id="flattened-no-segments"),
    ],
)
def test_track_text_no_speech(result: dict[str, Any]) -> None:
    """No speech or no cues gives no track, never an empty one."""
    text = pipeline.track_text(result, "eng", "netflix")
    assert text.no_speech
    assert text.vtt is None
    assert text.source == "none"


def test_track_text_normalises_for_the_preset() -> None:
    """With a preset the cues are re-flowed and the QC report travels with the text."""
    long_line = (
        "Three years ago our building put two hives on the roof, mostly as an experiment, "
        "and nobody expected them to survive the first winter."
    )
    result = {
        "subtitles": [
            {"start_time": "00:00:01.000", "end_time": "00:00:08.000", "text": long_line},
            {
                "start_time": "00:00:10.000",
                "end_time": "00:00:12.000",
                "text": "Thanks for watching!",
            },
        ]
    }
    text = pipeline.track_text(result, "eng", "netflix")
    assert text.vtt is not None
    assert text.qc is not None
    assert all(len(line) <= 42 for cue in _their_cue_lines(text.vtt) for line in cue)
    assert [r["text"] for r in text.qc["removed"]] == ["Thanks for watching!"]
    assert text.qc["lines_over_limit_before"] > text.qc["lines_over_limit_after"] == 0


def _their_cue_lines(vtt: str) -> list[list[str]]:
    return [c.text.splitlines() for c in webvtt.from_buffer(io.StringIO(vtt))]


def test_track_text_rejects_malformed_segments() -> None:
    """A malformed segment raises VttError naming it (the sweeper records the failure)."""
    result = {"subtitles": [{"start_time": "soon", "end_time": "00:00:02.000", "text": "x"}]}
    with pytest.raises(VttError, match="segment 1"):
        pipeline.track_text(result, "eng", "netflix")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param(
            {"progress": 60, "previous_progress": 20, "since_previous": 10.0},
            10.0 + 0.005 * (30.0 + 10.0) + 0.2,
            id="two-readings-extrapolate-their-own-rate",
        ),
        pytest.param(
            {"progress": 60, "running_for": 30.0, "two_stage": True},
            0.5 * 20.0,
            id="one-reading-of-a-dipping-task-looks-again-halfway",
        ),
        pytest.param(
            {"progress": 60, "running_for": 30.0, "paused": True},
            0.5 * 20.0,
            id="paused-between-stages-looks-again-halfway",
        ),
        pytest.param(
            {"progress": 60, "previous_progress": 20, "since_previous": 10.0, "two_stage": True},
            10.0 + 0.005 * (30.0 + 10.0) + 0.2,
            id="two-readings-of-a-dipping-task-are-trusted",
        ),
        pytest.param(
            {"progress": 10, "running_for": 10.0},
            0.5 * 90.0,
            id="early-progress-looks-again-halfway",
        ),
    ],
)
def test_next_poll_delay_readings(kwargs: dict[str, Any], expected: float) -> None:
    """The last poll is aimed only with a rate it can trust; otherwise it looks again sooner."""
    base = {"created_ago": 30.0, "expected_total": 60.0, "floor": 1.0, "ceiling": 600.0}
    base.update({"running_for": None, **kwargs})
    assert pipeline.next_poll_delay(**base) == pytest.approx(expected)
