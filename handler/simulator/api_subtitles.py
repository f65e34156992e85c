"""``/streaming/videos/{video_id}/subtitles``: subtitle track CRUD."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from handler.languages import name_of
from handler.simulator.errors import (
    FEATURE_DISABLED_TEXT,
    ai_error,
    bad_request,
    language_not_recognized,
    not_found,
)
from handler.simulator.parsing import BadJSON, int_or_none, json_body, route, sim_state
from handler.simulator.state import SimState
from handler.simulator.subtitles import Subtitle, SubtitleRejected, check_text, language_known

_AI_OPTIONS = ("auto_transcribe_audio_language", "auto_translate_subtitles_language")


def _tracks(request: Request) -> dict[int, Subtitle] | None:
    video_id = int_or_none(request.path_params["video_id"])
    return sim_state(request).subtitles.get(video_id if video_id is not None else -1)


def _track(request: Request) -> Subtitle | None:
    tracks = _tracks(request)
    track_id = int_or_none(request.path_params["subtitle_id"])
    if tracks is None or track_id is None:
        return None
    return tracks.get(track_id)


async def _object_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = await json_body(request)
    except BadJSON:
        return bad_request("Bad Request. Body must be JSON.")
    if not isinstance(body, dict):
        return bad_request("Bad Request. Body must be a JSON object.")
    return body


async def list_subtitles(request: Request) -> Response:
    tracks = _tracks(request)
    if tracks is None:
        return not_found()
    return JSONResponse([track.to_json() for track in tracks.values()])


async def create_subtitle(request: Request) -> Response:
    state: SimState = sim_state(request)
    tracks = _tracks(request)
    if tracks is None:
        return not_found()
    body = await _object_body(request)
    if isinstance(body, Response):
        return body
    if any(body.get(option) for option in _AI_OPTIONS):
        # Gcore's own auto-captioning is an account feature the simulated account lacks;
        # this is also what a real account without AI answers.
        return ai_error(FEATURE_DISABLED_TEXT, status_code=422)
    language = body.get("language")
    if not language_known(language):
        return language_not_recognized()
    try:
        vtt = check_text(body.get("vtt"))
    except SubtitleRejected as exc:
        return bad_request(str(exc))
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        name = name_of(str(language))
    video_id = int(request.path_params["video_id"])
    track = state.add_subtitle(video_id, name, str(language), vtt)
    return JSONResponse(track.to_json())


async def get_subtitle(request: Request) -> Response:
    track = _track(request)
    return not_found() if track is None else JSONResponse(track.to_json())


async def patch_subtitle(request: Request) -> Response:
    track = _track(request)
    if track is None:
        return not_found()
    body = await _object_body(request)
    if isinstance(body, Response):
        return body
    if "language" in body and not language_known(body["language"]):
        return language_not_recognized()
    try:
        vtt = check_text(body["vtt"]) if "vtt" in body else track.vtt
    except SubtitleRejected as exc:
        return bad_request(str(exc))
    if isinstance(body.get("name"), str):
        track.name = body["name"]
    track.language = str(body.get("language", track.language))
    track.vtt = vtt
    return JSONResponse(track.patched_json())


async def delete_subtitle(request: Request) -> Response:
    tracks, track = _tracks(request), _track(request)
    if tracks is None or track is None:
        return not_found()
    del tracks[track.id]
    return Response(status_code=204)


routes = [
    route("/streaming/videos/{video_id}/subtitles", GET=list_subtitles, POST=create_subtitle),
    route(
        "/streaming/videos/{video_id}/subtitles/{subtitle_id}",
        GET=get_subtitle,
        PATCH=patch_subtitle,
        DELETE=delete_subtitle,
    ),
]
