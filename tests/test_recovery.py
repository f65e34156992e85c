"""Pure recovery decisions: which ledger rows put a video back where Gcore says it is."""

from __future__ import annotations

from handler import pipeline
from handler.gcore import AiTask, TaskData
from handler.ledger import SPOKEN
from handler.pipeline import ExistingTrack
from handler.recovery import our_tasks, plan_recovery
from handler.tokens import Profile

AUTO = Profile(languages=("fre", "ger"))
FIXED = Profile(languages=("fre", "eng"), audio_language="eng")
URL = "http://cdn.test/videos/1_x/qid1_h264_800_480.mp4"


def _task(video_id: int, target: str, attempt: int, profile: Profile, **data: str) -> AiTask:
    return AiTask(
        task_id=f"task-{video_id}-{target}-{attempt}",
        status="STARTED",
        task_data=TaskData(
            url=URL,
            client_user_id=pipeline.job_marker(video_id, target, attempt),
            client_entity_data=pipeline.entity_data(video_id, target, attempt, profile),
            **data,
        ),
    )


def test_only_our_tasks_are_grouped_and_the_latest_attempt_wins() -> None:
    """Foreign tasks are ignored; a retried job is represented by its last attempt."""
    foreign = AiTask(task_id="x", status="SUCCESS", task_data=TaskData(client_entity_data="{}"))
    tasks = [
        _task(1, SPOKEN, 1, AUTO),
        _task(1, SPOKEN, 2, AUTO),
        foreign,
        _task(2, "fre", 1, AUTO),
    ]
    grouped = our_tasks(tasks)
    assert set(grouped) == {1, 2}
    assert grouped[1][SPOKEN].attempt == 2
    assert grouped[1][SPOKEN].task.task_id == "task-1-*-2"


def test_auto_mode_mid_transcription() -> None:
    """Transcription in flight: it is polled again, translations wait for it."""
    jobs = our_tasks([_task(1, SPOKEN, 1, AUTO)])[1]
    plan = plan_recovery(1, jobs, [])
    assert plan.profile == AUTO
    assert plan.mp4_url == URL
    assert plan.source_language is None
    assert [(t.target, t.state, t.task_id) for t in plan.tracks] == [
        (SPOKEN, "task_started", "task-1-*-1"),
        ("fre", "waiting", None),
        ("ger", "waiting", None),
    ]


def test_auto_mode_with_translations_running_and_one_attached() -> None:
    """An attached French track of ours is recorded; German's task is polled again."""
    jobs = our_tasks(
        [
            _task(1, SPOKEN, 1, AUTO),
            _task(1, "fre", 1, AUTO, audio_language="eng", subtitles_language="fre"),
            _task(1, "ger", 2, AUTO, audio_language="eng", subtitles_language="ger"),
        ]
    )[1]
    existing = [ExistingTrack("fre", 77, ours=True), ExistingTrack("ger", 5, ours=False)]
    plan = plan_recovery(1, jobs, existing)
    assert plan.source_language == "eng"
    states = {t.target: (t.state, t.subtitle_id, t.attempts) for t in plan.tracks}
    assert states == {
        SPOKEN: ("task_started", None, 1),
        "fre": ("attached", 77, 1),
        "ger": ("task_started", None, 2),
    }


def test_fixed_mode_unstarted_targets_are_planned_and_the_source_needs_no_translation() -> None:
    """Fixed English: the transcription is polled, French never started is planned."""
    jobs = our_tasks([_task(3, SPOKEN, 1, FIXED, audio_language="eng")])[3]
    plan = plan_recovery(3, jobs, [])
    assert plan.source_language == "eng"
    assert [(t.target, t.state, t.language) for t in plan.tracks] == [
        (SPOKEN, "task_started", "eng"),
        ("fre", "planned", "fre"),
    ]
