"""The Gcore simulator's behaviour, over real HTTP on loopback.

Each test gets its own simulator under uvicorn; a small webhook receiver (also under
uvicorn, shared by the module) records what the simulators post. Simulated time runs at
``SCALE`` of real time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import webvtt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from handler.languages import pair_plausible
from handler.simulator import SimulatorConfig, create_simulator_app
from handler.simulator.ai_tasks import PENDING, STARTED, Fate, Timing, plan_phases
from handler.simulator.captions import talk_cues
from handler.simulator.transcripts import CUE_TIMES_MS, HALLUCINATION, TALK
from tests.support.servers import serve_in_thread

KEY = "test-key"
AUTH = {"Authorization": f"APIKey {KEY}"}
SCALE = 0.02
TERMINAL = {"SUCCESS", "FAILURE", "REVOKED"}
THREE_HOURS_MS = 3 * 3600 * 1000
NOT_FOUND = {
    "status": 404,
    "error": "Not Found. Entity you are looking for was not found, please check the initial "
    "parameters",
}


def eventually(check: Callable[[], Any], *, timeout: float = 10.0, pause: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(pause)


@dataclass
class Receiver:
    url: str
    hooks: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Sim:
    url: str
    api: httpx.Client

    def upload(self, **body: Any) -> dict[str, Any]:
        response = self.api.post("/_sim/upload", json={"name": "talk", **body})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def video(self, video_id: int) -> dict[str, Any]:
        response = self.api.get(f"/streaming/videos/{video_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def ready_video(self, **body: Any) -> dict[str, Any]:
        video_id = self.upload(**body)["id"]
        return dict(eventually(lambda: (v := self.video(video_id))["status"] == "ready" and v))

    def create_task(self, **body: Any) -> str:
        response = self.api.post("/streaming/ai/tasks", json={"task_name": "transcription", **body})
        assert response.status_code == 201, response.text
        return str(response.json()["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.api.get(f"/streaming/ai/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def finish(self, task_id: str) -> dict[str, Any]:
        response = self.api.post(f"/_sim/tasks/{task_id}/finish")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def faults(self, **faults: Any) -> None:
        assert self.api.post("/_sim/faults", json=faults).status_code == 200


def mp4(video: dict[str, Any], name: str = "vod360p") -> str:
    return next(str(r["mp4_url"]) for r in video["converted_videos"] if r["name"] == name)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """One webhook receiver for the module (a server per test would double teardown time)."""
    received = Receiver(url="")

    async def hook(request: Request) -> Response:
        received.hooks.append(await request.json())
        return Response(status_code=204)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    with serve_in_thread(app) as url:
        received.url = f"{url}/hook"
        yield received


@pytest.fixture
def webhooks(receiver: Receiver) -> Receiver:
    """The shared receiver, emptied: the previous test's simulator has stopped by now, and
    every simulator numbers its videos from the same start."""
    receiver.hooks.clear()
    return receiver


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Sim]]:
    with contextlib.ExitStack() as stack:

        def start(time_scale: float = SCALE, webhook_url: str | None = None) -> Sim:
            config = SimulatorConfig(api_key=KEY, webhook_url=webhook_url, time_scale=time_scale)
            url = stack.enter_context(serve_in_thread(create_simulator_app(config)))
            api = stack.enter_context(httpx.Client(base_url=url, headers=AUTH, timeout=10))
            return Sim(url, api)

        yield start


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    return make_sim()


def hooks_about(receiver: Receiver, video_id: int) -> list[dict[str, Any]]:
    return [h for h in receiver.hooks if h["message"]["video"]["id"] == video_id]


# --- auth -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        pytest.param({}, "Authentication credentials were not provided.", id="missing"),
        pytest.param(
            {"Authorization": f"Bearer {KEY}"},
            "Given token not valid for any token type",
            id="bearer",
        ),
        pytest.param(
            {"Authorization": "APIKey wrong"}, "Token is invalid or expired", id="wrong-key"
        ),
    ],
)
def test_api_refuses_requests_without_the_key(
    sim: Sim, headers: dict[str, str], detail: str
) -> None:
    response = httpx.get(f"{sim.url}/streaming/videos", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": detail}


def test_scheme_word_is_case_insensitive_and_controls_need_no_key(sim: Sim) -> None:
    lower = httpx.get(f"{sim.url}/streaming/videos", headers={"authorization": f"apikey {KEY}"})
    assert lower.status_code == 200
    assert httpx.get(f"{sim.url}/_sim/state").status_code == 200


# --- videos and webhooks ------------------------------------------------------------------


def test_upload_goes_through_the_lifecycle_and_announces_each_status(
    make_sim: Callable[..., Sim], webhooks: Receiver
) -> None:
    sim = make_sim(webhook_url=webhooks.url)
    uploaded = sim.upload(name="lifecycle", duration_ms=60_000)
    assert uploaded["status"] == "empty"
    assert uploaded["converted_videos"] == []
    assert uploaded["duration"] == 60_000

    order = ["empty", "pending", "viewable", "ready"]
    seen: list[str] = []

    def ready() -> dict[str, Any] | None:
        video = sim.video(uploaded["id"])
        if not seen or seen[-1] != video["status"]:
            seen.append(video["status"])
        return video if video["status"] == "ready" else None

    video = eventually(ready, pause=0.005)
    assert seen == sorted(seen, key=order.index)
    renditions = {r["name"]: r for r in video["converted_videos"]}
    assert set(renditions) == {"vod360p", "vod480p", "vod720p"}
    assert renditions["vod480p"]["height"] == 480
    for rendition in renditions.values():
        assert rendition["status"] == "complete"
        assert rendition["progress"] == 100
        assert rendition["size"] > 0
        assert rendition["mp4_url"].startswith(f"http://127.0.0.1/videos/2675_{video['slug']}/")
        assert rendition["mp4_url"].endswith(".mp4")
    assert video["hls_url"].endswith(f"2675_{video['slug']}/master.m3u8")
    assert video["updated_at"] >= video["created_at"]

    hooks = eventually(lambda: len(found := hooks_about(webhooks, video["id"])) >= 4 and found)
    assert [h["type"] for h in hooks] == ["video"] * 4
    payloads = [h["message"]["video"] for h in hooks]
    assert [p["status"] for p in payloads] == order
    for payload in payloads:
        assert set(payload) == {
            "id",
            "slug",
            "name",
            "duration",
            "stream_id",
            "status",
            "converted_videos",
        }
        assert payload["id"] == video["id"]
        assert payload["stream_id"] is None
    assert payloads[0]["converted_videos"] == []
    viewable = {r["name"]: r["status"] for r in payloads[2]["converted_videos"]}
    assert viewable == {"vod360p": "complete", "vod480p": "processing", "vod720p": "processing"}
    assert {r["status"] for r in payloads[3]["converted_videos"]} == {"complete"}
    time.sleep(0.1)
    assert len(hooks_about(webhooks, video["id"])) == 4, "one per status change, no repeats"


def test_delete_removes_video_and_subtitles_and_sends_video_delete(
    make_sim: Callable[..., Sim], webhooks: Receiver
) -> None:
    # Slow enough that the delete lands while the video is still "empty".
    sim = make_sim(time_scale=0.3, webhook_url=webhooks.url)
    video = sim.upload(name="short-lived")
    vid = video["id"]
    created = sim.api.post(
        f"/streaming/videos/{vid}/subtitles",
        json={"language": "eng", "vtt": "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n"},
    )
    assert created.status_code == 200
    response = sim.api.delete(f"/streaming/videos/{vid}")
    assert response.status_code == 204
    assert response.content == b""

    gone = sim.api.get(f"/streaming/videos/{vid}")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)
    assert sim.api.get(f"/streaming/videos/{vid}/subtitles").status_code == 404
    assert sim.api.delete(f"/streaming/videos/{vid}").status_code == 404

    eventually(lambda: any(h["type"] == "video_delete" for h in hooks_about(webhooks, vid)))
    time.sleep(0.4)  # past the moment it would have become "pending"
    hooks = hooks_about(webhooks, vid)
    types = [(h["type"], h["message"]["video"]["status"]) for h in hooks]
    assert types == [("video", "empty"), ("video_delete", "empty")]
    deleted = hooks[-1]["message"]["video"]
    assert set(deleted) == {"id", "slug", "name", "status", "deleted_at"}
    assert deleted["id"] == vid
    assert deleted["deleted_at"].endswith("Z")


def test_unreachable_webhook_receiver_is_logged_and_ignored(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(webhook_url="http://127.0.0.1:9/nowhere")
    video = sim.ready_video()
    state = eventually(lambda: len((s := sim.api.get("/_sim/state").json())["webhooks"]) == 4 and s)
    assert [w["payload"]["message"]["video"]["status"] for w in state["webhooks"]] == [
        "empty",
        "pending",
        "viewable",
        "ready",
    ]
    assert all(not w["outcome"].isdigit() for w in state["webhooks"])
    assert sim.video(video["id"])["status"] == "ready"


def test_create_and_list_videos(sim: Sim) -> None:
    wrapped = sim.api.post("/streaming/videos", json={"video": {"name": "wrapped one"}})
    flat = sim.api.post("/streaming/videos", json={"name": "flat two", "client_user_id": 7})
    assert wrapped.status_code == flat.status_code == 200
    first, second = wrapped.json()[0], flat.json()[0]
    assert (first["name"], first["status"]) == ("wrapped one", "empty")
    assert second["client_user_id"] == 7

    blank = sim.api.post("/streaming/videos", json={"video": {"description": "no name"}})
    assert (blank.status_code, blank.json()) == (422, {"errors": {"name": ["can't be blank"]}})

    listed = sim.api.get("/streaming/videos").json()
    assert [v["id"] for v in listed] == [second["id"], first["id"]]
    assert [v["id"] for v in sim.api.get("/streaming/videos?per_page=1&page=2").json()] == [
        first["id"]
    ]
    assert sim.api.get("/streaming/videos?page=3&per_page=1").json() == []
    assert [v["name"] for v in sim.api.get("/streaming/videos?search=FLAT").json()] == ["flat two"]
    assert [v["id"] for v in sim.api.get(f"/streaming/videos?id={first['id']}").json()] == [
        first["id"]
    ]
    assert sim.api.get("/streaming/videos?status=ready").json() == []
    narrow = sim.api.get("/streaming/videos?fields=id,status").json()
    assert all(set(v) == {"id", "status"} for v in narrow)


# --- AI tasks -----------------------------------------------------------------------------


def test_transcription_progresses_to_a_whisper_like_result(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=120_000)
    task_id = sim.create_task(url=mp4(video), client_entity_data='{"job": 1}')
    observed: list[tuple[str, int]] = []

    def done() -> dict[str, Any] | None:
        task = sim.task(task_id)
        observed.append((task["status"], task["progress"]))
        return task if task["status"] in TERMINAL else None

    task = eventually(done, pause=0.01)
    statuses = [s for s, _ in observed]
    progress = [p for _, p in observed]
    assert statuses[0] in ("RECEIVED", "PENDING")
    assert "STARTED" in statuses
    assert statuses[-1] == "SUCCESS"
    assert progress == sorted(progress), "progress never goes backwards"
    assert max(p for s, p in observed if s != "SUCCESS") <= 99
    assert progress[-1] == 100

    assert task["task_name"] == "transcription"
    assert task["task_data"] == {
        "task_name": "transcription",
        "url": mp4(video),
        "client_entity_data": '{"job": 1}',
        "client_id": 2675,
    }
    timing = task["processing_time"]
    assert timing["completed_at"] >= timing["started_at"]
    assert timing["total_time_sec"] > 0

    result = task["result"]
    assert result["speech_detected"] is True
    assert result["languages"] == ["eng"]
    cues = result["subtitles"]
    assert len(cues) == len(CUE_TIMES_MS) + 1
    assert cues[0] == {
        "start_time": "00:00:00.009",
        "end_time": "00:00:03.689",
        "text": TALK["eng"][0],
    }
    assert cues[-1]["text"] == "Thanks for watching!"
    assert result["vttContent"].startswith(
        f"WEBVTT\n\n1\n00:00:00.009 --> 00:00:03.689\n{TALK['eng'][0]}\n\n2\n"
    )
    parsed = webvtt.from_string(result["vttContent"])
    assert [c.text for c in parsed.captions] == [c["text"] for c in cues]
    assert result["concatenated_text"].startswith(TALK["eng"][0] + "  " + TALK["eng"][1])


@pytest.mark.parametrize("target", ["fre", "ger", "spa"])
def test_translation_uses_hand_written_text(sim: Sim, target: str) -> None:
    video = sim.ready_video(duration_ms=120_000)
    task = sim.finish(sim.create_task(url=mp4(video), subtitles_language=target))
    assert task["status"] == "SUCCESS"
    result = task["result"]
    assert result["languages"] == [target]
    assert [c["text"] for c in result["subtitles"]] == [*TALK[target], HALLUCINATION[target]]


def test_translation_to_other_languages_is_marked(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=20_000)
    task = sim.finish(sim.create_task(url=mp4(video), subtitles_language="ita"))
    texts = [c["text"] for c in task["result"]["subtitles"]]
    assert texts[0] == f"[Italian] {TALK['eng'][0]}"
    assert all(t.startswith("[Italian] ") for t in texts)


def test_unsupported_pair_fails_with_the_pair_named(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=20_000)
    task = sim.finish(sim.create_task(url=mp4(video), subtitles_language="uzb"))
    assert task["status"] == "FAILURE"
    assert "eng => uzb" in task["result"]["error"]
    assert task["processing_time"]["completed_at"] is not None


def test_spoken_language_is_detected_or_taken_as_given(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=20_000, spoken_language="ger")
    detected = sim.finish(sim.create_task(url=mp4(video)))["result"]
    assert detected["languages"] == ["ger"]
    assert detected["subtitles"][0]["text"] == TALK["ger"][0]
    explicit = sim.finish(sim.create_task(url=mp4(video), audio_language="ger"))["result"]
    assert explicit["subtitles"] == detected["subtitles"]
    english = sim.finish(sim.create_task(url=mp4(video), subtitles_language="eng"))["result"]
    assert english["subtitles"][0]["text"] == TALK["eng"][0]


def test_silent_video_succeeds_without_speech(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=20_000, speech=False)
    result = sim.finish(sim.create_task(url=mp4(video)))["result"]
    assert result["speech_detected"] is False
    assert result["subtitles"] == []
    assert result["languages"] == []
    assert result["vttContent"].startswith("WEBVTT")


def test_tasks_on_bad_sources_fail(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(time_scale=0.2)
    zipped = sim.finish(sim.create_task(url="https://domain.com/video.zip"))
    assert zipped["status"] == "FAILURE"
    assert zipped["result"] == {"error": "Unsupported file type: https://domain.com/video.zip"}

    video_id = sim.upload(duration_ms=20_000)["id"]
    pending = eventually(lambda: (v := sim.video(video_id))["converted_videos"] and v)
    assert pending["status"] == "pending"
    early = sim.finish(sim.create_task(url=mp4(pending, "vod720p")))
    assert early["status"] == "FAILURE"
    assert "404" in early["result"]["error"]

    manifest = sim.finish(sim.create_task(url=pending["hls_url"]))
    assert manifest["result"]["error"].startswith("Unsupported file type")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param({"task_name": "transcription"}, '"url" is not specified', id="no-url"),
        pytest.param(
            {"task_name": "transcription", "url": " "}, '"url" is not specified', id="blank-url"
        ),
        pytest.param({"task_name": "ocr", "url": "https://x/y.mp4"}, "Unknown", id="task-name"),
        pytest.param(
            {"task_name": "content-moderation", "url": "https://x/y.mp4"},
            "not available",
            id="moderation",
        ),
        pytest.param(
            {"task_name": "transcription", "url": "https://x/y.mp4", "audio_language": "xx"},
            "not recognized",
            id="audio-language",
        ),
        pytest.param(
            {"task_name": "transcription", "url": "https://x/y.mp4", "client_user_id": 5},
            "must be a string",
            id="client-user-id-type",
        ),
        pytest.param(
            {"url": "https://x/y.mp4", "client_entity_data": "x" * 4097},
            "at most 4096",
            id="entity-data-length",
        ),
        pytest.param([], "JSON object", id="not-an-object"),
    ],
)
def test_create_task_rejects_bad_requests(sim: Sim, body: Any, error: str) -> None:
    response = sim.api.post("/streaming/ai/tasks", json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert error in response.json()["error"]


def test_task_name_may_be_omitted_like_the_spec_example(sim: Sim) -> None:
    response = sim.api.post("/streaming/ai/tasks", json={"url": "https://x/y.mp4"})
    assert response.status_code == 201
    assert sim.task(response.json()["task_id"])["task_data"]["task_name"] == "transcription"


def test_unknown_task_is_404(sim: Sim) -> None:
    response = sim.api.get("/streaming/ai/tasks/4a8e4b4e-0000-4000-8000-000000000000")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_cancel(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=THREE_HOURS_MS)
    task_id = sim.create_task(url=mp4(video))
    response = sim.api.post(f"/streaming/ai/tasks/{task_id}/cancel")
    assert (response.status_code, response.json()) == (
        202,
        {"result": "Task has been cancelled successfully."},
    )
    cancelled = sim.task(task_id)
    assert cancelled["status"] == "REVOKED"
    assert cancelled["result"] is None
    assert cancelled["processing_time"]["completed_at"] is not None
    time.sleep(5 * SCALE)
    assert sim.task(task_id) == cancelled, "a revoked task is frozen"

    again = sim.api.post(f"/streaming/ai/tasks/{task_id}/cancel")
    assert (again.status_code, again.json()) == (
        412,
        {"error": "Cannot cancel task because it is already in status REVOKED."},
    )
    done = sim.finish(sim.create_task(url=mp4(video)))
    late = sim.api.post(f"/streaming/ai/tasks/{done['task_id']}/cancel")
    assert late.status_code == 412
    assert "SUCCESS" in late.json()["error"]
    unknown = sim.api.post("/streaming/ai/tasks/4a8e4b4e-0000-4000-8000-000000000000/cancel")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Task not found"})


def test_list_search_filters_and_pages(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=THREE_HOURS_MS)
    ids = [
        sim.create_task(
            url=mp4(video), client_entity_data=json.dumps({"job": f"job-{i:02d}", "v": 1})
        )
        for i in range(12)
    ]
    sim.finish(ids[3])

    def listing(**params: Any) -> dict[str, Any]:
        response = sim.api.get("/streaming/ai/tasks", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    everything = listing(limit=100)
    assert everything["count"] == 12
    assert [t["task_id"] for t in everything["results"]] == ids[::-1], "newest first"
    assert all("result" not in t for t in everything["results"])

    marker = listing(search="job-07")
    assert [t["task_id"] for t in marker["results"]] == [ids[7]]
    quoted = listing(search='"job": "job-07"')
    assert [t["task_id"] for t in quoted["results"]] == [ids[7]]
    assert listing(search=ids[5][:13])["results"][0]["task_id"] == ids[5]
    assert listing(search="qid5774v1")["count"] == 12
    assert [t["task_id"] for t in listing(status="SUCCESS")["results"]] == [ids[3]]
    assert listing(search="success")["count"] == 1
    assert listing(task_name="transcription")["count"] == 12
    assert listing(task_id=ids[0])["results"][0]["task_id"] == ids[0]
    by_id = listing(ordering="task_id", limit=100)["results"]
    assert [t["task_id"] for t in by_id] == sorted(ids)

    first = listing(limit=5)
    assert (first["count"], first["next"], first["previous"]) == (12, "page=2", None)
    last = listing(limit=5, page=3)
    assert (len(last["results"]), last["next"], last["previous"]) == (2, None, "page=2")
    beyond = sim.api.get("/streaming/ai/tasks", params={"limit": 5, "page": 4})
    assert beyond.status_code == 404
    empty = listing(search="no-such-marker")
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}


def test_queue_limit(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=THREE_HOURS_MS)
    ids = [sim.create_task(url=mp4(video)) for _ in range(100)]
    refused = sim.api.post(
        "/streaming/ai/tasks", json={"task_name": "transcription", "url": mp4(video)}
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "Queue limit reached (100), try later."},
    )
    assert sim.api.post(f"/streaming/ai/tasks/{ids[0]}/cancel").status_code == 202
    sim.create_task(url=mp4(video))


def test_long_video_gives_a_long_deterministic_result(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=THREE_HOURS_MS)
    first = sim.finish(sim.create_task(url=mp4(video)))["result"]
    second = sim.finish(sim.create_task(url=mp4(video)))["result"]
    cues = first["subtitles"]
    assert len(cues) == 90 * len(CUE_TIMES_MS) + 1
    assert cues[-1]["end_time"] <= "03:00:00.000"
    assert any(c["start_time"].startswith("02:") for c in cues)
    assert second == first


def test_language_support_info(sim: Sim) -> None:
    def supported(**params: str) -> bool:
        response = sim.api.get("/streaming/ai/info", params={"type": "language_support", **params})
        assert response.status_code == 200, response.text
        return bool(response.json()["supported"])

    assert supported(audio_language="eng", subtitles_language="fre")
    assert not supported(audio_language="eng", subtitles_language="uzb")
    assert supported(audio_language="uzb", subtitles_language="eng")
    assert supported(audio_language="deu", subtitles_language="fra"), "T codes are understood"
    assert supported(audio_language="eng")
    assert not supported(audio_language="xxx")
    assert not supported(audio_language="eng", subtitles_language="xxx")
    for source in ("eng", "ger", "uzb", "bak", "chi"):
        for target in ("eng", "fre", "uzb", "lat", "jpn"):
            expected = pair_plausible(source, target)
            assert supported(audio_language=source, subtitles_language=target) is expected

    wrong = sim.api.get("/streaming/ai/info", params={"type": "models"})
    assert (wrong.status_code, wrong.json()) == (400, {"error": "Invalid config type"})
    missing = sim.api.get("/streaming/ai/info", params={"type": "language_support"})
    assert missing.status_code == 400


# --- subtitles ----------------------------------------------------------------------------

VTT = "WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.000\nBonjour\n\n"


def test_subtitles_crud(sim: Sim) -> None:
    vid = sim.upload()["id"]
    base = f"/streaming/videos/{vid}/subtitles"
    assert sim.api.get(base).json() == []

    created = sim.api.post(
        base, json={"name": "French (AI-generated)", "language": "fre", "vtt": VTT}
    )
    assert created.status_code == 200
    track = created.json()
    assert set(track) == {"id", "name", "language", "vtt"}
    assert (track["name"], track["language"], track["vtt"]) == (
        "French (AI-generated)",
        "fre",
        VTT,
    )
    twin = sim.api.post(base, json={"language": "fre", "vtt": VTT}).json()
    assert twin["name"] == "French", "a missing name defaults to the language name"
    assert [t["id"] for t in sim.api.get(base).json()] == [track["id"], twin["id"]]
    assert sim.api.get(f"{base}/{track['id']}").json() == track

    patched = sim.api.patch(f"{base}/{track['id']}", json={"name": "Français"})
    assert (patched.status_code, patched.json()) == (
        200,
        {"name": "Français", "language": "fre", "vtt": VTT},
    )
    assert sim.api.patch(f"{base}/{track['id']}", json={"language": "zz"}).status_code == 422
    assert sim.api.patch(f"{base}/{track['id']}", json={"vtt": "oops"}).status_code == 400

    assert sim.api.delete(f"{base}/{track['id']}").status_code == 204
    assert sim.api.get(f"{base}/{track['id']}").status_code == 404
    assert sim.api.delete(f"{base}/{track['id']}").status_code == 404
    assert [t["id"] for t in sim.api.get(base).json()] == [twin["id"]]
    assert sim.api.get(f"/streaming/videos/{vid}/subtitles/{twin['id'] + 1}").status_code == 404


def test_subtitle_validation(sim: Sim) -> None:
    vid = sim.upload()["id"]
    base = f"/streaming/videos/{vid}/subtitles"

    unknown = sim.api.post(base, json={"language": "xx", "vtt": VTT})
    assert (unknown.status_code, unknown.json()) == (
        422,
        {"status": 422, "error": "Unprocessable Entity. Language code is not recognized."},
    )
    assert sim.api.post(base, json={"language": "fra", "vtt": VTT}).status_code == 422
    not_vtt = sim.api.post(base, json={"language": "fre", "vtt": "Bonjour"})
    assert not_vtt.status_code == 400
    assert not_vtt.json()["status"] == 400
    assert sim.api.post(base, json={"language": "fre"}).status_code == 400
    srt = "1\n00:00:00,500 --> 00:00:02,000\nBonjour\n"
    assert sim.api.post(base, json={"language": "fre", "vtt": srt}).status_code == 200
    huge = "WEBVTT\n\n" + "x" * (5 * 1024 * 1024)
    assert sim.api.post(base, json={"language": "fre", "vtt": huge}).status_code == 400
    auto = sim.api.post(base, json={"language": "fre", "auto_transcribe_audio_language": "auto"})
    assert auto.status_code == 422
    missing_video = sim.api.post(
        "/streaming/videos/1/subtitles", json={"language": "fre", "vtt": VTT}
    )
    assert (missing_video.status_code, missing_video.json()) == (404, NOT_FOUND)


def test_wrong_method_and_unknown_paths_answer_json(sim: Sim) -> None:
    vid = sim.upload()["id"]
    put = sim.api.put(f"/streaming/videos/{vid}/subtitles", json={})
    assert put.status_code == 405
    assert "not allowed" in put.json()["detail"]
    unknown = sim.api.get("/streaming/no/such/thing")
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)


# --- faults -------------------------------------------------------------------------------


def test_http_429_and_500_faults(sim: Sim) -> None:
    sim.faults(http_429=2, retry_after=0.25, http_500=1)
    first = sim.api.get("/streaming/videos")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "0.25"
    assert first.headers["retry-after-ms"] == "250"
    assert "error" in first.json()
    assert sim.api.get("/streaming/videos").status_code == 429
    assert sim.api.get("/streaming/videos").status_code == 500
    assert sim.api.get("/streaming/videos").status_code == 200

    sim.faults(http_429=1, retry_after=2, path_prefix="/streaming/ai")
    assert sim.api.get("/streaming/videos").status_code == 200
    limited = sim.api.get("/streaming/ai/tasks")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert sim.api.get("/streaming/ai/tasks").status_code == 200


def test_unauthenticated_requests_do_not_consume_faults(sim: Sim) -> None:
    sim.faults(http_500=1)
    assert httpx.get(f"{sim.url}/streaming/videos").status_code == 401
    assert sim.api.get("/streaming/videos").status_code == 500


def test_queue_limit_fault(sim: Sim) -> None:
    sim.faults(queue_limit=1)
    assert sim.api.get("/streaming/ai/tasks").status_code == 200
    body = {"task_name": "transcription", "url": "https://x/y.mp4"}
    refused = sim.api.post("/streaming/ai/tasks", json=body)
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "Queue limit reached (100), try later."},
    )
    assert sim.api.post("/streaming/ai/tasks", json=body).status_code == 201


def test_task_faults(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=20_000)
    sim.faults(task_failure=1, no_speech=1, vtt_no_newlines=1)
    failed = sim.finish(sim.create_task(url=mp4(video)))
    assert failed["status"] == "FAILURE"
    assert failed["result"]["error"]
    sim.faults(no_speech=1, vtt_no_newlines=1)
    silent = sim.finish(sim.create_task(url=mp4(video)))["result"]
    assert (silent["speech_detected"], silent["subtitles"]) == (False, [])
    sim.faults(vtt_no_newlines=1)
    flat = sim.finish(sim.create_task(url=mp4(video)))["result"]
    assert "\n" not in flat["vttContent"]
    assert flat["vttContent"].startswith("WEBVTT 1 00:00:00.009 --> 00:00:03.689 Hi everyone")
    normal = sim.finish(sim.create_task(url=mp4(video)))["result"]
    assert normal["vttContent"].startswith("WEBVTT\n\n1\n")
    assert normal["speech_detected"] is True


def test_failure_fault_passes_through_retry(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim()
    video = sim.ready_video(duration_ms=120_000)  # RETRY then lasts 60-120 ms
    sim.faults(task_failure=1)
    task_id = sim.create_task(url=mp4(video), audio_language="eng")
    seen: set[str] = set()

    def failed() -> bool:
        status = sim.task(task_id)["status"]
        seen.add(status)
        return status == "FAILURE"

    eventually(failed, pause=0.005)
    assert "RETRY" in seen


def test_faults_are_validated_and_cleared(sim: Sim) -> None:
    assert sim.api.post("/_sim/faults", json={"bogus": 1}).status_code == 400
    assert sim.api.post("/_sim/faults", json={"http_429": -1}).status_code == 400
    assert sim.api.post("/_sim/faults", json={"path_prefix": "streaming"}).status_code == 400
    assert sim.api.post("/_sim/faults", json={"http_429": 1, "bogus": 1}).status_code == 400
    assert sim.api.get("/_sim/faults").json()["http_429"] == 0, "a bad request changes nothing"
    sim.faults(http_500=3)
    assert sim.api.delete("/_sim/faults").status_code == 204
    assert sim.api.get("/_sim/faults").json()["http_500"] == 0
    assert sim.api.get("/streaming/videos").status_code == 200


# --- inspection ---------------------------------------------------------------------------


def test_call_log(sim: Sim) -> None:
    sim.upload()
    httpx.get(f"{sim.url}/streaming/videos?page=1")
    sim.api.post(
        "/streaming/ai/tasks", json={"task_name": "transcription", "url": "https://x/a.mp4"}
    )
    calls = sim.api.get("/_sim/calls").json()
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("GET", "/streaming/videos", 401),
        ("POST", "/streaming/ai/tasks", 201),
    ]
    assert calls[0]["query"] == {"page": "1"}
    assert calls[0]["url"] == "/streaming/videos?page=1"
    assert calls[1]["body"] == {"task_name": "transcription", "url": "https://x/a.mp4"}
    assert calls[1]["headers"]["authorization"] == "APIKey <redacted>"
    assert KEY not in json.dumps(calls)
    assert set(calls[1]["response_body"]) == {"task_id"}
    assert calls[0]["t"] <= calls[1]["t"]
    assert sim.api.delete("/_sim/calls").status_code == 204
    assert sim.api.get("/_sim/calls").json() == []


def test_state_dump(sim: Sim) -> None:
    video = sim.ready_video(duration_ms=20_000, spoken_language="fra")
    sim.api.post(f"/streaming/videos/{video['id']}/subtitles", json={"language": "fre", "vtt": VTT})
    task_id = sim.create_task(url=mp4(video))
    state = sim.api.get("/_sim/state").json()
    assert state["videos"][0]["spoken_language"] == "fre"
    assert state["videos"][0]["status"] == "ready"
    assert [t["language"] for t in state["subtitles"][str(video["id"])]] == ["fre"]
    assert state["tasks"][0]["task_id"] == task_id
    assert state["tasks"][0]["video_id"] == video["id"]
    assert state["tasks"][0]["status"] in ("RECEIVED", "PENDING", "STARTED")


def test_upload_validation(sim: Sim) -> None:
    for body in (
        {"duration_ms": 0},
        {"duration_ms": "long"},
        {"spoken_language": "klingon"},
        {"speech": "yes"},
        {"name": ""},
    ):
        assert sim.api.post("/_sim/upload", json=body).status_code == 400, body


# --- pure pieces --------------------------------------------------------------------------


def test_sample_talk_is_consistent() -> None:
    assert 25 <= len(CUE_TIMES_MS) + 1 <= 40
    for language, lines in TALK.items():
        assert len(lines) == len(CUE_TIMES_MS), language
        assert language in HALLUCINATION
    for (start, end), (next_start, _) in itertools.pairwise(CUE_TIMES_MS):
        assert start < end <= next_start
    assert CUE_TIMES_MS[-1][1] < 115_000, "silence at the end of the talk holds the hallucination"
    lengths = sorted(len(line) for line in TALK["eng"])
    assert lengths[0] < 10 and lengths[-1] > 120, "uneven cues, like real ASR output"


@pytest.mark.parametrize("duration_ms", [5_000, 20_000, 119_999, 120_000, 250_000, 3_600_000])
def test_cues_fill_the_video_and_stay_inside_it(duration_ms: int) -> None:
    cues = talk_cues(duration_ms, "eng")
    assert cues
    assert all(0 <= c.start_ms < c.end_ms <= duration_ms for c in cues)
    assert all(a.end_ms <= b.start_ms for a, b in itertools.pairwise(cues))
    assert cues[-1].end_ms > duration_ms - 10_000
    assert talk_cues(duration_ms, "eng") == cues


def test_timing_is_deterministic_and_auto_language_waits_twice() -> None:
    timing = Timing.draw("a-task", 120_000, translation=False)
    assert Timing.draw("a-task", 120_000, translation=False) == timing
    assert Timing.draw("b-task", 120_000, translation=False) != timing
    assert 2.0 <= timing.queued <= 8.0
    assert 30.0 <= timing.processing <= 60.0
    phases, ends_at = plan_phases(0.0, timing, Fate.TRANSCRIBE, auto_language=True, scale=1.0)
    statuses = [p.status for p in phases]
    assert statuses[-3:] == [STARTED, PENDING, STARTED]
    assert ends_at == pytest.approx(timing.queued + timing.processing + timing.regroup)


def test_time_scale_zero_makes_everything_instant(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(time_scale=0)
    video = sim.upload(duration_ms=20_000)
    assert video["status"] == "ready"
    task = sim.task(sim.create_task(url=mp4(video)))
    assert (task["status"], task["progress"]) == ("SUCCESS", 100)
    assert task["processing_time"]["total_time_sec"] == 0
