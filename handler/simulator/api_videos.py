"""``/streaming/videos``: list, create, get, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from handler.simulator.errors import bad_request, not_found
from handler.simulator.parsing import BadJSON, int_or_none, json_body, route, sim_state
from handler.simulator.state import VideoSpec
from handler.simulator.videos import Video

DEFAULT_PER_PAGE = 25
# Fields ``?fields=`` may select (the spec's list); anything else is ignored.
SELECTABLE = frozenset(
    {
        "id",
        "name",
        "duration",
        "status",
        "created_at",
        "updated_at",
        "hls_url",
        "screenshots",
        "converted_videos",
        "priority",
        "stream_id",
    }
)


def _unprocessable(field: str, message: str) -> JSONResponse:
    # The videos API is Rails-style: 422 with an "errors" map.
    return JSONResponse({"errors": {field: [message]}}, status_code=422)


def video_spec(payload: dict[str, Any]) -> VideoSpec | JSONResponse:
    """Read ``createVideo`` fields; Gcore takes them wrapped in ``video`` or flat."""
    inner = payload.get("video")
    fields = inner if isinstance(inner, dict) else payload
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip():
        return _unprocessable("name", "can't be blank")
    client_user_id = fields.get("client_user_id")
    if client_user_id is not None and int_or_none(client_user_id) is None:
        return _unprocessable("client_user_id", "is not a number")
    description, origin_url = fields.get("description"), fields.get("origin_url")
    return VideoSpec(
        name=name,
        description=description if isinstance(description, str) else None,
        origin_url=origin_url if isinstance(origin_url, str) else None,
        client_user_id=int_or_none(client_user_id),
    )


def _video_id(request: Request) -> int | None:
    return int_or_none(request.path_params["video_id"])


def _matches(video: Video, status: str, query: dict[str, str]) -> bool:
    if query.get("status") and status != query["status"]:
        return False
    ids = {int_or_none(part) for part in query.get("id", "").split(",") if part.strip()}
    if ids and video.id not in ids:
        return False
    wanted_user = int_or_none(query.get("client_user_id"))
    if wanted_user is not None and video.client_user_id != wanted_user:
        return False
    search = query.get("search")
    if search:
        # The spec: id = s OR slug = s OR name LIKE s.
        return search in (str(video.id), video.slug) or search.casefold() in video.name.casefold()
    return True


async def list_videos(request: Request) -> Response:
    state = sim_state(request)
    now, query = state.now(), dict(request.query_params)
    page = max(1, int_or_none(query.get("page")) or 1)
    per_page = max(1, int_or_none(query.get("per_page")) or DEFAULT_PER_PAGE)
    chosen = [
        video.details(now, state.clock)
        for video in sorted(state.videos.values(), key=lambda v: v.id, reverse=True)
        if _matches(video, video.status(now), query)
    ]
    window = chosen[(page - 1) * per_page : page * per_page]
    fields = {f.strip() for f in query.get("fields", "").split(",") if f.strip() in SELECTABLE}
    if fields:
        window = [{k: v for k, v in item.items() if k in fields} for item in window]
    return JSONResponse(window)


async def create_video(request: Request) -> Response:
    state = sim_state(request)
    try:
        payload = await json_body(request)
    except BadJSON:
        return bad_request("Bad Request. Body must be JSON.")
    if not isinstance(payload, dict):
        return bad_request("Bad Request. Body must be a JSON object.")
    spec = video_spec(payload)
    if isinstance(spec, JSONResponse):
        return spec
    video = state.create_video(spec)
    # The spec declares an array of videoDetails for this endpoint.
    return JSONResponse([video.details(state.now(), state.clock)])


async def get_video(request: Request) -> Response:
    state = sim_state(request)
    video = state.videos.get(_video_id(request) or -1)
    if video is None:
        return not_found()
    return JSONResponse(video.details(state.now(), state.clock))


async def delete_video(request: Request) -> Response:
    state = sim_state(request)
    if not state.delete_video(_video_id(request) or -1):
        return not_found()
    return Response(status_code=204)


routes = [
    route("/streaming/videos", GET=list_videos, POST=create_video),
    route("/streaming/videos/{video_id}", GET=get_video, DELETE=delete_video),
]
