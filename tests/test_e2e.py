"""End to end: simulator → webhook → ledger → sweeper → Gcore AI → attached WebVTT.

Every exchange is real HTTP over 127.0.0.1; the ledger is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import webvtt

from handler import languages, pipeline
from handler.ledger import Ledger, open_ledger
from handler.recovery import recover
from handler.sweeper import Sweeper
from tests.support.openapi_contract import validate_recorded_call
from tests.world import World, world


def _ai_creates(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        c for c in calls
        if c["method"] == "POST" and c["path"] == "/streaming/ai/tasks" and c["status"] == 201
    ]  # fmt: skip


def _parse_independently(vtt: str) -> list[Any]:
    """Cross-check with webvtt-py, a parser we did not write."""
    return list(webvtt.from_buffer(io.StringIO(vtt)))


def _by_language(subs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for sub in subs:
        out.setdefault(sub["language"], []).append(sub)
    return out


async def _assert_tracks(w: World, video_id: int, expected: set[str]) -> None:
    subs = await w.subtitles(video_id)
    by_language = _by_language(subs)
    assert set(by_language) == expected
    for code, tracks in by_language.items():
        assert len(tracks) == 1, f"{code}: {len(tracks)} tracks"
        track = tracks[0]
        assert track["name"] == languages.track_name(code)
        cues = _parse_independently(track["vtt"])
        assert cues, f"{code}: no cues"
        assert all(c.text.strip() for c in cues)


async def test_auto_language_happy_path(tmp_path: Path) -> None:
    """A video in auto mode gets its spoken-language track plus French and German."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        video_id = await w.upload(duration_ms=60_000, spoken_language="eng")
        tracks = await w.run_video(video_id)
        assert {t.language: t.state for t in tracks} == {
            "eng": "attached", "fre": "attached", "ger": "attached"
        }  # fmt: skip
        await _assert_tracks(w, video_id, {"eng", "fre", "ger"})
        creates = _ai_creates(await w.calls())
        assert len(creates) == 3
        bodies = [c["body"] for c in creates]
        transcription = [b for b in bodies if "subtitles_language" not in b]
        assert len(transcription) == 1 and "audio_language" not in transcription[0]
        translations = sorted(b["subtitles_language"] for b in bodies if "subtitles_language" in b)
        assert translations == ["fre", "ger"]
        # Translations were started with the detected language, after the transcription.
        assert all(b.get("audio_language") == "eng" for b in bodies if "subtitles_language" in b)
        video = await w.ledger.get_video(video_id)
        assert video is not None and video.source_language == "eng"


async def test_fixed_audio_language_starts_everything_at_once(tmp_path: Path) -> None:
    """With a fixed audio language all tasks are created before any of them finishes."""
    async with world(tmp_path, languages=("fre", "spa"), audio_language="ger") as w:
        video_id = await w.upload(duration_ms=60_000, spoken_language="ger")
        await w.sweep_until(lambda: _started_count(w, video_id, 3), timeout=10)
        tracks = await w.ledger.tracks_of(video_id)
        assert all(t.state == "task_started" for t in tracks)
        creates = _ai_creates(await w.calls())
        assert len(creates) == 3
        assert all(c["body"]["audio_language"] == "ger" for c in creates)
        await w.run_video(video_id)
        await _assert_tracks(w, video_id, {"ger", "fre", "spa"})


async def _started_count(w: World, video_id: int, n: int) -> bool:
    """At least ``n`` of the video's track jobs have a task on Gcore."""
    tracks = await w.ledger.tracks_of(video_id)
    return sum(1 for t in tracks if t.task_id) >= n


async def test_target_equal_to_source_costs_nothing(tmp_path: Path) -> None:
    """Asking for English on an English video starts no translation task."""
    async with world(tmp_path, languages=("eng", "fre")) as w:
        video_id = await w.upload(duration_ms=30_000, spoken_language="eng")
        tracks = await w.run_video(video_id)
        states = {t.target: (t.state, t.reason) for t in tracks}
        assert states["eng"][0] == "skipped" and "same language" in (states["eng"][1] or "")
        creates = _ai_creates(await w.calls())
        assert sorted(c["body"].get("subtitles_language", "-") for c in creates) == ["-", "fre"]
        await _assert_tracks(w, video_id, {"eng", "fre"})


async def test_twenty_concurrent_duplicate_webhooks(tmp_path: Path) -> None:
    """20 copies of the same webhook at once give one task and one track per language."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        video_id = await w.upload(duration_ms=30_000)
        payload = {
            "type": "video",
            "message": {"video": {"id": video_id, "status": "ready", "converted_videos": []}},
        }
        responses = await asyncio.gather(*(w.webhook(payload) for _ in range(20)))
        assert {r.status_code for r in responses} == {202}
        # A second sweeper on its own connection races the first one.
        other_ledger = await open_ledger(w.settings.database_url)
        other = Sweeper(w.settings, other_ledger, w.sweeper.gcore, owner="second-sweeper")
        try:
            await asyncio.gather(other.sweep_once(), w.sweeper.sweep_once())
            await w.run_video(video_id)
        finally:
            await other_ledger.aclose()
        assert len(_ai_creates(await w.calls())) == 3
        await _assert_tracks(w, video_id, {"eng", "fre", "ger"})


async def test_video_not_on_the_account_starts_nothing(tmp_path: Path) -> None:
    """A validly signed webhook for an id Gcore does not know is rejected after one GET."""
    async with world(tmp_path) as w:
        payload = {"type": "video", "message": {"video": {"id": 987654, "status": "ready"}}}
        assert (await w.webhook(payload)).status_code == 202
        await w.sweep_until(lambda: w.settled(987654))
        video = await w.ledger.get_video(987654)
        assert video is not None and video.state == "rejected" and "404" in (video.reason or "")
        calls = await w.calls()
        assert [(c["method"], c["status"]) for c in calls] == [("GET", 404)]


async def test_existing_human_track_is_left_alone(tmp_path: Path) -> None:
    """A French track someone else made means no French task and no second French track."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        video_id = await w.upload(duration_ms=30_000)
        human = await w.sim.post(
            f"/streaming/videos/{video_id}/subtitles",
            headers={"Authorization": "APIKey test-api-key"},
            json={"name": "Français (relu)", "language": "fre", "vtt": _HUMAN_VTT},
        )
        assert human.status_code == 200
        tracks = await w.run_video(video_id)
        assert {t.target: t.state for t in tracks}["fre"] == "skipped"
        creates = _ai_creates(await w.calls())
        assert "fre" not in [c["body"].get("subtitles_language") for c in creates]
        fre = _by_language(await w.subtitles(video_id))["fre"]
        assert [t["name"] for t in fre] == ["Français (relu)"]


_HUMAN_VTT = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\nBonjour à tous.\n"


async def test_no_speech_attaches_nothing(tmp_path: Path) -> None:
    """No speech: every language ends skipped(no_speech), no track, no paid task."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        video_id = await w.upload(duration_ms=30_000, speech=False)
        tracks = await w.run_video(video_id)
        assert {t.state for t in tracks} == {"skipped"}
        assert {t.reason for t in tracks} == {"no_speech"}
        assert await w.subtitles(video_id) == []
        assert len(_ai_creates(await w.calls())) == 1


async def test_rate_limit_and_server_error_storms(tmp_path: Path) -> None:
    """429s (with Retry-After) and 500s slow things down but lose and double nothing."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        await w.faults(http_429=6, retry_after=0, http_500=6)
        video_id = await w.upload(duration_ms=30_000)
        await w.run_video(video_id, timeout=60)
        statuses = [c["status"] for c in await w.calls()]
        assert statuses.count(429) == 6 and statuses.count(500) == 6
        assert len(_ai_creates(await w.calls())) == 3
        await _assert_tracks(w, video_id, {"eng", "fre", "ger"})


async def test_video_delete_mid_flight_cancels_tasks(tmp_path: Path) -> None:
    """Deleting the video cancels its running AI tasks on Gcore and its jobs here."""
    async with world(tmp_path, languages=("fre", "ger"), audio_language="eng", time_scale=0.5) as w:
        video_id = await w.upload(duration_ms=120_000)
        await w.sweep_until(lambda: _started_count(w, video_id, 3), timeout=20)
        deleted = await w.sim.delete(
            f"/streaming/videos/{video_id}", headers={"Authorization": "APIKey test-api-key"}
        )
        assert deleted.status_code == 204
        await w.sweep_until(lambda: w.settled(video_id), timeout=20)
        tracks = await w.ledger.tracks_of(video_id)
        assert {t.state for t in tracks} == {"cancelled"}
        tasks = await w.tasks()
        assert tasks and {t["status"] for t in tasks} == {"REVOKED"}


async def test_vtt_content_without_newlines_is_rebuilt(tmp_path: Path) -> None:
    """Gcore's spec example has vttContent with no newlines: we rebuild it from subtitles[]."""
    async with world(tmp_path, languages=("fre",)) as w:
        await w.faults(vtt_no_newlines=5)
        video_id = await w.upload(duration_ms=30_000)
        await w.run_video(video_id)
        await _assert_tracks(w, video_id, {"eng", "fre"})


async def test_restart_with_non_empty_ledger_finishes_the_work(tmp_path: Path) -> None:
    """A new sweeper on the same ledger file picks up started tasks without re-creating them."""
    async with world(tmp_path, languages=("fre",), time_scale=0.1) as w:
        video_id = await w.upload(duration_ms=60_000)
        await w.sweep_until(lambda: _started_count(w, video_id, 1), timeout=20)
        await w.ledger.aclose()
        w.ledger = await open_ledger(w.settings.database_url)
        w.sweeper = Sweeper(w.settings, w.ledger, w.sweeper.gcore, owner="after-restart")
        await w.run_video(video_id, timeout=30)
        assert len(_ai_creates(await w.calls())) == 2
        await _assert_tracks(w, video_id, {"eng", "fre"})


async def test_task_created_but_not_recorded_is_adopted(tmp_path: Path) -> None:
    """After a crash between "task created" and "recorded", the task found on Gcore is reused."""
    async with world(tmp_path, languages=(), audio_language="eng", time_scale=0.2) as w:
        video_id = await w.upload(duration_ms=60_000)
        await w.sweep_until(lambda: _started_count(w, video_id, 1))
        [task] = _ai_creates(await w.calls())
        # Rewind the ledger to what a crash right after the POST leaves: the intent only.
        [job] = await w.ledger.claim_tracks(
            "crashed", limit=10, lease_seconds=1, now=time.time() + 3600
        )
        await w.ledger.update_track(job, "crashed", state="creating", task_id=None, attempts=0)
        tracks = await w.run_video(video_id)
        assert tracks[0].state == "attached"
        assert tracks[0].attempts == 1
        assert len(_ai_creates(await w.calls())) == 1
        assert tracks[0].task_id == (await w.tasks())[0]["task_id"]
        assert task["body"]["client_user_id"] == pipeline.job_marker(video_id, "*", 1)
        await _assert_tracks(w, video_id, {"eng"})


async def _has_tracks(w: World, video_id: int) -> bool:
    return bool(await w.ledger.tracks_of(video_id))


async def test_track_posted_but_not_recorded_is_adopted(tmp_path: Path) -> None:
    """A track of ours already on the video (a crash after the POST) is adopted, not doubled."""
    async with world(tmp_path, languages=(), audio_language="eng") as w:
        video_id = await w.upload(duration_ms=30_000)
        await w.sweep_until(lambda: _started_count(w, video_id, 1))
        ours = await w.sim.post(
            f"/streaming/videos/{video_id}/subtitles",
            headers={"Authorization": "APIKey test-api-key"},
            json={"name": languages.track_name("eng"), "language": "eng", "vtt": _HUMAN_VTT},
        )
        # What the crashed sweeper left on record: the attach intent, then nothing.
        [job] = await w.ledger.claim_tracks(
            "crashed", limit=10, lease_seconds=1, now=time.time() + 3600
        )
        await w.ledger.update_track(job, "crashed", task_done_at=time.time(), next_run_at=0)
        tracks = await w.run_video(video_id)
        assert tracks[0].state == "attached"
        assert tracks[0].subtitle_id == ours.json()["id"]
        assert len(await w.subtitles(video_id)) == 1


async def test_attach_without_intent_trusts_a_fresh_look_and_saves_a_call(tmp_path: Path) -> None:
    """No crash, recent planning look: the track is attached without listing again."""
    async with world(tmp_path, languages=(), audio_language="eng") as w:
        video_id = await w.upload(duration_ms=30_000)
        await w.run_video(video_id)
        lists = [
            c for c in await w.calls()
            if c["method"] == "GET" and c["path"].endswith("/subtitles")
        ]  # fmt: skip
        assert len(lists) == 1  # the look at planning time only
        await _assert_tracks(w, video_id, {"eng"})


@pytest.mark.parametrize(
    ("kind", "request_kwargs", "status"),
    [
        ("bad token", {"path": "/webhooks/gcore/not-a-token"}, 404),
        ("content type", {"content": b"{}", "headers": {"content-type": "text/plain"}}, 415),
        ("too large", {"content": b"{" + b" " * 70_000 + b"}"}, 413),
        ("not json", {"content": b"{not json"}, 400),
        ("no video id", {"json": {"type": "video", "message": {"video": {}}}}, 400),
        ("string id", {"json": {"type": "video", "message": {"video": {"id": "12"}}}}, 400),
        ("no type", {"json": {"message": {}}}, 400),
        ("id too big", {"json": {"type": "video", "message": {"video": {"id": 2**63}}}}, 400),
        ("nested too deep", {"content": b"[" * 5000 + b"]" * 5000}, 400),
    ],
)
async def test_rejections_record_nothing_and_call_nobody(
    tmp_path: Path, kind: str, request_kwargs: dict[str, Any], status: int
) -> None:
    """Every rejected webhook gets its status and a reason, and nothing reaches Gcore."""
    async with world(tmp_path) as w:
        url = w.webhook_url
        if "path" in request_kwargs:
            url = w.service_url + request_kwargs.pop("path")
            request_kwargs = {"json": {"type": "video", "message": {"video": {"id": 1}}}}
        headers = {"content-type": "application/json", **request_kwargs.pop("headers", {})}
        if "json" in request_kwargs:
            request_kwargs = {"content": json.dumps(request_kwargs["json"]).encode()}
        response = await w.service.post(url, headers=headers, **request_kwargs)
        assert response.status_code == status, kind
        assert response.json()["error"]
        await w.sweeper.sweep_once()
        assert await w.ledger.videos() == []
        assert await w.ledger.event_count() == 0
        assert await w.calls() == []


async def test_source_outside_the_allow_list_is_forbidden(tmp_path: Path) -> None:
    """A webhook from an address outside AUTOSUBS_ALLOWED_CIDRS gets 403 and is not recorded."""
    async with world(tmp_path, allowed_cidrs="92.223.112.0/24") as w:
        payload = {"type": "video", "message": {"video": {"id": 5, "status": "ready"}}}
        response = await w.webhook(payload)
        assert response.status_code == 403
        assert await w.ledger.event_count() == 0


async def test_other_event_types_are_acknowledged_and_ignored(tmp_path: Path) -> None:
    """stream/restream events answer 200 and record nothing."""
    async with world(tmp_path) as w:
        response = await w.webhook({"type": "stream", "message": {"stream": {"id": 3}}})
        assert response.status_code == 200
        assert await w.ledger.event_count() == 0


async def test_our_gcore_requests_follow_the_official_spec(tmp_path: Path) -> None:
    """Every request the service sent to Gcore validates against Gcore's OpenAPI file."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        await w.faults(http_429=2, retry_after=0)
        video_id = await w.upload(duration_ms=30_000)
        await w.run_video(video_id)
        calls = await w.calls()
        assert {(c["method"], c["path"].split("/")[2]) for c in calls} >= {
            ("GET", "videos"), ("POST", "videos"), ("POST", "ai"), ("GET", "ai")
        }  # fmt: skip
        for call in calls:
            # 429 is undocumented on most paths: validate the request half only there.
            validate_recorded_call(call, response=call["status"] < 400)


async def test_attached_tracks_meet_the_preset(tmp_path: Path) -> None:
    """The simulator's realistic transcript comes out readable: no long lines, no made-up text."""
    async with world(tmp_path, languages=("fre", "ger")) as w:
        video_id = await w.upload(duration_ms=120_000)
        tracks = await w.run_video(video_id)
        for track in tracks:
            assert track.qc is not None
            assert track.qc["cues_after"] > 0
            assert track.qc["lines_over_limit_after"] == 0
            # The simulator ends each transcript with a "thanks for watching" in silence.
            assert [r["reason"] for r in track.qc["removed"]] == ["known_phrase"], track.language
        for sub in await w.subtitles(video_id):
            for cue in _parse_independently(sub["vtt"]):
                assert all(len(line) <= 42 for line in cue.text.splitlines()), cue.text
                assert "thanks for watching" not in cue.text.lower()
                assert "merci d'avoir regardé" not in cue.text.lower()
                assert "zuschauen" not in cue.text.lower()


async def test_never_more_than_max_active_tasks_in_flight(tmp_path: Path) -> None:
    """With AUTOSUBS_MAX_ACTIVE_TASKS=2, nine tasks run at most two at a time, all finish."""
    async with world(tmp_path, languages=("fre", "ger"), audio_language="eng",
                     max_active_tasks=2) as w:  # fmt: skip
        video_ids = [await w.upload(duration_ms=20_000) for _ in range(3)]
        peak = 0

        async def all_done() -> bool:
            nonlocal peak
            running = [t for t in await w.tasks() if t["status"] not in _TERMINAL]
            peak = max(peak, len(running), await w.ledger.active_task_count())
            return all([await w.settled(v, expected_tracks=3) for v in video_ids])

        await w.sweep_until(all_done, timeout=60)
        assert peak == 2
        assert len(_ai_creates(await w.calls())) == 9
        for video_id in video_ids:
            await _assert_tracks(w, video_id, {"eng", "fre", "ger"})


_TERMINAL = {"SUCCESS", "FAILURE", "REVOKED"}


async def test_recover_rebuilds_a_lost_ledger_without_doing_anything_twice(
    tmp_path: Path,
) -> None:
    """Ledger lost mid-flight: recover + sweep finish every track, no second task or track."""
    async with world(tmp_path, languages=("fre", "ger"), time_scale=0.1) as w:
        done_id = await w.upload(duration_ms=20_000)
        await w.run_video(done_id)
        busy_id = await w.upload(duration_ms=60_000)
        await w.sweep_until(lambda: _started_count(w, busy_id, 2), timeout=30)
        creates_before = len(_ai_creates(await w.calls()))

        fresh = Ledger(str(tmp_path / "fresh.db"))
        try:
            summary = await recover(fresh, w.sweeper.gcore)
            assert summary.videos == 2
            assert summary.already_known == 0
            w.ledger = fresh
            w.sweeper = Sweeper(w.settings, fresh, w.sweeper.gcore, owner="after-recover")
            for video_id in (done_id, busy_id):
                tracks = await w.run_video(video_id, timeout=40)
                assert {t.state for t in tracks} == {"attached"}, await w.describe()
            # The finished video needed nothing new; the busy one only what never started.
            creates = _ai_creates(await w.calls())
            per_job = {c["body"]["client_user_id"].rsplit(":", 1)[0] for c in creates}
            assert len(per_job) == len(creates) == 6, creates_before
            for video_id in (done_id, busy_id):
                await _assert_tracks(w, video_id, {"eng", "fre", "ger"})
            again = await recover(fresh, w.sweeper.gcore)
            assert again.videos == 0
            assert again.already_known == 2
        finally:
            fresh.close()
