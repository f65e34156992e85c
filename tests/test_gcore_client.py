"""GcoreClient (handler.gcore) over httpx.MockTransport: retries, error mapping, models."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from handler.errors import GcoreError, GcoreUnavailable
from handler.gcore import GcoreClient, error_text

Handler = Callable[[httpx.Request], httpx.Response]

TASK = {
    "task_id": "34d0ba5a-23f6-4462-85ff-fe343b0cdb2d",
    "task_name": "transcription",
    "status": "SUCCESS",
    "progress": 100,
    "task_data": {
        "task_name": "transcription",
        "url": "https://cdn.test/v.mp4",
        "client_user_id": "autosubs:1:src:1",
        "client_id": 2675,
    },
    "processing_time": {
        "started_at": "2024-03-13T08:13:27Z",
        "completed_at": "2024-03-13T08:15:19Z",
        "total_time_sec": 112,
        "queued_for_sec": 3,
    },
    "result": {"speech_detected": True, "subtitles": [], "languages": ["eng"]},
    "brand_new_field": {"nested": [1, 2]},
}
CREATE = {
    "url": "https://cdn.test/v.mp4",
    "audio_language": None,
    "subtitles_language": "fre",
    "client_user_id": "autosubs:1:fre:1",
    "client_entity_data": "{}",
}


class Recorder:
    """A scripted Gcore: answers in order (the last one repeats) and records every request."""

    def __init__(self, *responses: httpx.Response | Handler) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        index = min(len(self.requests), len(self.responses)) - 1
        answer = self.responses[index]
        if callable(answer):
            return answer(request)
        # A fresh copy each time: one Response object must not be sent twice.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


class Sleeps(list[float]):
    """The client's sleep: records the delays instead of waiting."""

    async def __call__(self, delay: float) -> None:
        self.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make(sleeps: Sleeps) -> AsyncIterator[Callable[..., GcoreClient]]:
    clients: list[httpx.AsyncClient] = []

    def build(recorder: Recorder, retries: int = 4) -> GcoreClient:
        http = httpx.AsyncClient(
            transport=httpx.MockTransport(recorder), base_url="https://api.test"
        )
        clients.append(http)
        return GcoreClient(http, rps=1000.0, retries=retries, sleep=sleeps)

    yield build
    for http in clients:
        await http.aclose()


def _json(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


VIDEO = {"id": 7, "status": "ready", "converted_videos": []}


# --- retries -------------------------------------------------------------------------------


async def test_429_honours_retry_after(make: Callable[..., GcoreClient], sleeps: Sleeps) -> None:
    """A 429 with Retry-After: 2 waits exactly 2 s, then the retry succeeds."""
    gcore = make(
        Recorder(
            _json(429, {"error": "Too many requests"}, **{"Retry-After": "2"}), _json(200, VIDEO)
        )
    )
    video = await gcore.get_video(7)
    assert video.id == 7
    assert sleeps == [2.0]


async def test_retry_after_ms_wins(make: Callable[..., GcoreClient], sleeps: Sleeps) -> None:
    """retry-after-ms, when present, is used as the wait."""
    limited = _json(429, {"error": "slow down"}, **{"retry-after-ms": "1500", "Retry-After": "9"})
    gcore = make(Recorder(limited, _json(200, VIDEO)))
    await gcore.get_video(7)
    assert sleeps == [1.5]


async def test_absurd_retry_after_falls_back_to_backoff(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A Retry-After over a minute is not obeyed; normal backoff applies."""
    gcore = make(Recorder(_json(429, {"error": "x"}, **{"Retry-After": "3600"}), _json(200, VIDEO)))
    await gcore.get_video(7)
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 8.0


async def test_unparseable_retry_after_falls_back_to_backoff(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A Retry-After that is neither seconds nor a date is ignored; normal backoff applies."""
    gcore = make(Recorder(_json(429, {"error": "x"}, **{"Retry-After": "soon"}), _json(200, VIDEO)))
    video = await gcore.get_video(7)
    assert video.id == 7
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= 8.0


async def test_5xx_retried_with_backoff_then_unavailable(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """Persistent 5xx is retried with growing, capped delays, then raises GcoreUnavailable."""
    recorder = Recorder(_json(503, {"error": "Service Unavailable"}))
    gcore = make(recorder, retries=4)
    with pytest.raises(GcoreUnavailable) as caught:
        await gcore.get_video(7)
    assert caught.value.status == 503
    assert caught.value.retryable
    assert len(recorder.requests) == 5
    assert len(sleeps) == 4
    for attempt, delay in enumerate(sleeps):
        nominal = min(8.0, 0.5 * 2**attempt)
        assert 0.75 * nominal <= delay <= nominal
    assert sleeps == sorted(sleeps)


async def test_5xx_then_success(make: Callable[..., GcoreClient], sleeps: Sleeps) -> None:
    """A transient 502 on a read is retried and the answer returned."""
    gcore = make(Recorder(httpx.Response(502, text="<html>Bad gateway</html>"), _json(200, VIDEO)))
    assert (await gcore.get_video(7)).status == "ready"
    assert len(sleeps) == 1


async def test_create_task_500_is_not_retried(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A 500 on POST /ai/tasks may have created the task: raise at once, never post twice."""
    recorder = Recorder(
        _json(500, {"error": "Internal Server Error"}), _json(201, {"task_id": "t"})
    )
    gcore = make(recorder)
    with pytest.raises(GcoreUnavailable) as caught:
        await gcore.create_task(**CREATE)
    assert caught.value.status == 500
    assert len(recorder.requests) == 1
    assert sleeps == []


async def test_create_task_timeout_is_not_retried(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A create that timed out is ambiguous too: one attempt, GcoreUnavailable."""

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    recorder = Recorder(timeout, _json(201, {"task_id": "t"}))
    gcore = make(recorder)
    with pytest.raises(GcoreUnavailable):
        await gcore.create_task(**CREATE)
    assert len(recorder.requests) == 1


async def test_create_task_connect_error_is_retried(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A connection that never opened cannot have created anything: retried."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    recorder = Recorder(refused, _json(201, {"task_id": "t-1"}))
    gcore = make(recorder)
    assert await gcore.create_task(**CREATE) == "t-1"
    assert len(recorder.requests) == 2
    assert len(sleeps) == 1


async def test_read_timeouts_on_a_get_are_retried_then_unavailable(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """Timeouts on reads are retried; when they persist, GcoreUnavailable says so."""

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    recorder = Recorder(timeout)
    gcore = make(recorder, retries=2)
    with pytest.raises(GcoreUnavailable, match="ReadTimeout"):
        await gcore.get_task("t")
    assert len(recorder.requests) == 3
    assert len(sleeps) == 2


async def test_create_task_429_goes_back_to_the_caller(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A 429 on create is not waited out inside the call (a long Retry-After could outlive
    the job's lease): it is raised at once as a definite refusal, nothing created."""
    recorder = Recorder(
        _json(429, {"error": "Too many requests, try later"}, **{"Retry-After": "30"}),
        _json(201, {"task_id": "t-9"}),
    )
    gcore = make(recorder)
    with pytest.raises(GcoreUnavailable) as caught:
        await gcore.create_task(**CREATE)
    assert caught.value.status == 429
    assert not caught.value.ambiguous
    assert sleeps == []
    assert len(recorder.requests) == 1
    assert json.loads(recorder.requests[0].content) == {
        "task_name": "transcription",
        "url": "https://cdn.test/v.mp4",
        "subtitles_language": "fre",
        "client_user_id": "autosubs:1:fre:1",
        "client_entity_data": "{}",
    }


async def test_create_task_queue_limit_goes_back_to_the_caller(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """400 "Queue limit reached" on create: GcoreUnavailable(status=400), not ambiguous."""
    recorder = Recorder(_json(400, {"error": "Queue limit reached (100), try later."}))
    gcore = make(recorder, retries=3)
    with pytest.raises(GcoreUnavailable) as caught:
        await gcore.create_task(**CREATE)
    assert caught.value.status == 400
    assert caught.value.retryable
    assert not caught.value.ambiguous
    assert "Queue limit" in str(caught.value)
    assert len(recorder.requests) == 1
    assert sleeps == []


async def test_create_task_500_is_ambiguous(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """A 5xx on create may or may not have created the task: flagged ambiguous, not retried."""
    recorder = Recorder(_json(502, {"error": "bad gateway"}))
    gcore = make(recorder)
    with pytest.raises(GcoreUnavailable) as caught:
        await gcore.create_task(**CREATE)
    assert caught.value.ambiguous
    assert len(recorder.requests) == 1


async def test_other_400_is_not_retried(make: Callable[..., GcoreClient], sleeps: Sleeps) -> None:
    """A plain 400 cannot improve: GcoreError (not Unavailable) at once."""
    recorder = Recorder(_json(400, {"error": "url is required"}))
    gcore = make(recorder)
    with pytest.raises(GcoreError) as caught:
        await gcore.create_task(**CREATE)
    assert not isinstance(caught.value, GcoreUnavailable)
    assert caught.value.status == 400
    assert "url is required" in str(caught.value)
    assert len(recorder.requests) == 1


# --- errors a person must act on -----------------------------------------------------------


async def test_feature_disabled_fails_fast(
    make: Callable[..., GcoreClient], sleeps: Sleeps
) -> None:
    """422 "Feature is disabled" says AI is not enabled and to ask support; no retry."""
    recorder = Recorder(_json(422, {"error": "Feature is disabled. Contact support to enable."}))
    gcore = make(recorder)
    with pytest.raises(GcoreError) as caught:
        await gcore.create_task(**CREATE)
    assert not isinstance(caught.value, GcoreUnavailable)
    assert caught.value.status == 422
    assert not caught.value.retryable
    message = str(caught.value).lower()
    assert "ai is not enabled" in message
    assert "support" in message
    assert len(recorder.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_api_key(
    make: Callable[..., GcoreClient], sleeps: Sleeps, status: int
) -> None:
    """A rejected key fails at once and tells the operator to check GCORE_API_KEY."""
    recorder = Recorder(_json(status, {"detail": "Token is invalid or expired"}))
    gcore = make(recorder)
    with pytest.raises(GcoreError) as caught:
        await gcore.get_video(7)
    assert caught.value.status == status
    assert "GCORE_API_KEY" in str(caught.value)
    assert "Token is invalid or expired" in str(caught.value)
    assert len(recorder.requests) == 1


async def test_404_is_a_plain_gcore_error(make: Callable[..., GcoreClient], sleeps: Sleeps) -> None:
    """A video that is not on our account is a 404 GcoreError, not retried."""
    body = {"status": 404, "error": "Not Found. Entity you are looking for was not found"}
    recorder = Recorder(_json(404, body))
    gcore = make(recorder)
    with pytest.raises(GcoreError) as caught:
        await gcore.get_video(123)
    assert not isinstance(caught.value, GcoreUnavailable)
    assert (caught.value.status, caught.value.method, caught.value.path) == (
        404,
        "GET",
        "/streaming/videos/123",
    )
    assert "Not Found" in str(caught.value)
    assert len(recorder.requests) == 1
    assert sleeps == []


# --- models --------------------------------------------------------------------------------


async def test_unknown_fields_are_tolerated(make: Callable[..., GcoreClient]) -> None:
    """Fields Gcore adds later never break parsing of videos or tasks."""
    video = {
        "id": 7,
        "status": "viewable",
        "duration": 43989,
        "hls_url": "https://x/master.m3u8",
        "screenshots": ["a.jpg"],
        "converted_videos": [
            {
                "id": 1,
                "name": "vod480p",
                "width": 854,
                "height": 480,
                "status": "complete",
                "mp4_url": "https://cdn.test/480.mp4",
                "size": 123,
                "codec": "h264",
            }
        ],
        "future": {"anything": True},
    }
    gcore = make(Recorder(lambda r: _json(200, video if "videos" in r.url.path else TASK)))
    parsed = await gcore.get_video(7)
    assert (parsed.duration, parsed.converted_videos[0].mp4_url) == (
        43989,
        "https://cdn.test/480.mp4",
    )
    task = await gcore.get_task(TASK["task_id"])
    assert task.terminal
    assert task.task_data is not None
    assert task.task_data.client_user_id == "autosubs:1:src:1"
    assert task.processing_time is not None
    assert task.processing_time.total_time_sec == 112
    assert task.result == TASK["result"]


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("SUCCESS", True),
        ("FAILURE", True),
        ("REVOKED", True),
        ("PENDING", False),
        ("STARTED", False),
        ("RECEIVED", False),
        ("RETRY", False),
        ("SOMETHING_NEW", False),
    ],
)
async def test_task_terminal_statuses(
    make: Callable[..., GcoreClient], status: str, terminal: bool
) -> None:
    """Only SUCCESS, FAILURE and REVOKED end a task; unknown statuses keep polling."""
    body = {"task_id": "t", "status": status, "progress": None, "result": None}
    gcore = make(Recorder(_json(200, body)))
    assert (await gcore.get_task("t")).terminal is terminal


async def test_malformed_answer_is_unavailable(make: Callable[..., GcoreClient]) -> None:
    """A 200 that is not the documented shape is a transient GcoreUnavailable."""
    gcore = make(Recorder(httpx.Response(200, text="<html>maintenance</html>")))
    with pytest.raises(GcoreUnavailable):
        await gcore.get_video(7)


async def test_subtitles_round_trip(make: Callable[..., GcoreClient]) -> None:
    """Listing and creating subtitles use the documented paths and bodies."""

    def gcore_api(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return _json(200, [{"id": 1, "name": "English", "language": "eng", "extra": 1}])
        return _json(201, {"id": 2, **json.loads(request.content)})

    recorder = Recorder(gcore_api)
    gcore = make(recorder)
    [existing] = await gcore.list_subtitles(7)
    assert (existing.id, existing.language) == (1, "eng")
    created = await gcore.create_subtitle(
        7, name="French (AI-generated)", language="fre", vtt="WEBVTT\n"
    )
    assert (created.id, created.name) == (2, "French (AI-generated)")
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("GET", "/streaming/videos/7/subtitles"),
        ("POST", "/streaming/videos/7/subtitles"),
    ]


async def test_create_subtitle_500_is_not_retried(make: Callable[..., GcoreClient]) -> None:
    """Attaching a track is a create too: an ambiguous 500 is raised, never posted twice."""
    recorder = Recorder(_json(500, {"error": "oops"}), _json(201, {"id": 2}))
    gcore = make(recorder)
    with pytest.raises(GcoreUnavailable):
        await gcore.create_subtitle(7, name="n", language="fre", vtt="WEBVTT\n")
    assert len(recorder.requests) == 1


# --- lists and cancels ---------------------------------------------------------------------


async def test_find_tasks_follows_pages(make: Callable[..., GcoreClient]) -> None:
    """find_tasks reads every page the list says exists, searching for our marker."""
    pages = {
        "1": {
            "count": 3,
            "next": "page=2",
            "previous": None,
            "results": [{**TASK, "task_id": "a"}],
        },
        "2": {
            "count": 3,
            "next": "page=3",
            "previous": "page=1",
            "results": [{**TASK, "task_id": "b"}],
        },
        "3": {
            "count": 3,
            "next": None,
            "previous": "page=2",
            "results": [{**TASK, "task_id": "c"}],
        },
    }
    recorder = Recorder(lambda r: _json(200, pages[r.url.params["page"]]))
    gcore = make(recorder)
    found = await gcore.find_tasks("autosubs:1:src:1")
    assert [t.task_id for t in found] == ["a", "b", "c"]
    assert [r.url.params["page"] for r in recorder.requests] == ["1", "2", "3"]
    assert {r.url.params["search"] for r in recorder.requests} == {"autosubs:1:src:1"}
    assert {r.url.path for r in recorder.requests} == {"/streaming/ai/tasks"}


async def test_find_tasks_empty(make: Callable[..., GcoreClient]) -> None:
    """No match is an empty list after one request."""
    recorder = Recorder(_json(200, {"count": 0, "next": None, "previous": None, "results": []}))
    gcore = make(recorder)
    assert await gcore.find_tasks("autosubs:9:fre:1") == []
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("response", "cancelled"),
    [
        (_json(202, {"result": "Task has been cancelled successfully."}), True),
        (_json(200, {"result": "ok"}), True),
        (
            _json(412, {"error": "Cannot cancel task because it is already in status REVOKED."}),
            False,
        ),
        (_json(404, {"error": "Task not found"}), False),
    ],
    ids=["202", "200", "412-already-finished", "404-gone"],
)
async def test_cancel_task(
    make: Callable[..., GcoreClient], response: httpx.Response, cancelled: bool
) -> None:
    """cancel_task is True when Gcore cancels, False when the task is finished or gone."""
    recorder = Recorder(response)
    gcore = make(recorder)
    assert await gcore.cancel_task("t-1") is cancelled
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("POST", "/streaming/ai/tasks/t-1/cancel")
    ]


async def test_cancel_task_other_errors_raise(make: Callable[..., GcoreClient]) -> None:
    """Errors other than 404/412 on cancel are raised."""
    gcore = make(Recorder(_json(422, {"error": "Feature is disabled. Contact support to enable."})))
    with pytest.raises(GcoreError):
        await gcore.cancel_task("t-1")


@pytest.mark.parametrize(("answer", "supported"), [(True, True), (False, False)])
async def test_language_supported(
    make: Callable[..., GcoreClient], answer: bool, supported: bool
) -> None:
    """The /ai/info language_support answer is passed on, with the pair in the query."""
    recorder = Recorder(_json(200, {"supported": answer}))
    gcore = make(recorder)
    assert await gcore.language_supported("eng", "uzb") is supported
    params = recorder.requests[0].url.params
    assert (params["type"], params["audio_language"], params["subtitles_language"]) == (
        "language_support",
        "eng",
        "uzb",
    )


# --- error_text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "contains"),
    [
        pytest.param(
            _json(400, {"error": "Queue limit reached (100), try later."}),
            ["Queue limit reached (100), try later."],
            id="error",
        ),
        pytest.param(
            _json(
                404, {"status": 404, "error": "Not Found. Entity you are looking for was not found"}
            ),
            ["Not Found. Entity you are looking for was not found"],
            id="status-and-error",
        ),
        pytest.param(
            _json(
                422,
                {"status": 422, "error": "Unprocessable Entity. Language code is not recognized."},
            ),
            ["Language code is not recognized."],
            id="subtitles-422",
        ),
        pytest.param(
            _json(422, {"error": "Feature is disabled. Contact support to enable."}),
            ["Feature is disabled. Contact support to enable."],
            id="upgrade-required",
        ),
        pytest.param(
            _json(422, {"errors": {"name": ["can't be blank"]}}),
            ["name", "can't be blank"],
            id="rails-errors-dict",
        ),
        pytest.param(
            _json(500, {"data": [], "errors": ["internal server error"]}),
            ["internal server error"],
            id="statistics-errors-list",
        ),
        pytest.param(
            _json(412, {"error": "Cannot cancel task because it is already in status REVOKED."}),
            ["already in status REVOKED"],
            id="cancel-412",
        ),
        pytest.param(
            _json(401, {"detail": "Authentication credentials were not provided."}),
            ["Authentication credentials were not provided."],
            id="detail",
        ),
        pytest.param(_json(400, {"message": "bad thing"}), ["bad thing"], id="message"),
        pytest.param(
            httpx.Response(502, text="<html>Bad gateway</html>"), ["Bad gateway"], id="html"
        ),
        pytest.param(httpx.Response(503, text=""), ["Service Unavailable"], id="empty-body"),
        pytest.param(_json(500, ["oops"]), ["oops"], id="json-list"),
    ],
)
def test_error_text(response: httpx.Response, contains: list[str]) -> None:
    """The human sentence is found in every error shape Gcore's Streaming API uses."""
    text = error_text(response)
    for part in contains:
        assert part in text
