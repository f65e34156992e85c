"""``/_sim/*``: test and demo controls. Not Gcore API; no authentication."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from handler.languages import UnknownLanguage, normalise_code
from handler.simulator.parsing import BadJSON, int_or_none, json_body, route, sim_state
from handler.simulator.state import VideoSpec

# Longer than any real upload we care about, short enough to keep results bounded.
MAX_DURATION_MS = 24 * 3600 * 1000


def _error(message: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


async def _object(request: Request) -> dict[str, Any] | None:
    try:
        body = await json_body(request)
    except BadJSON:
        return None
    return body if isinstance(body, dict) else None


def upload_spec(body: dict[str, Any]) -> VideoSpec | str:
    """The video an upload describes, or an error text."""
    name = body.get("name", "Simulated upload")
    if not isinstance(name, str) or not name.strip():
        return "name must be a non-empty string"
    duration = int_or_none(body.get("duration_ms", 120_000))
    if duration is None or not 1 <= duration <= MAX_DURATION_MS:
        return f"duration_ms must be an integer between 1 and {MAX_DURATION_MS}"
    try:
        spoken = normalise_code(str(body.get("spoken_language", "eng")))
    except UnknownLanguage as exc:
        return str(exc)
    speech = body.get("speech", True)
    if not isinstance(speech, bool):
        return "speech must be true or false"
    client_user_id = body.get("client_user_id")
    return VideoSpec(
        name=name,
        duration_ms=duration,
        spoken_language=spoken,
        speech=speech,
        description=body.get("description") if isinstance(body.get("description"), str) else None,
        origin_url=body.get("origin_url") if isinstance(body.get("origin_url"), str) else None,
        client_user_id=int_or_none(client_user_id) if client_user_id is not None else None,
    )


async def upload(request: Request) -> Response:
    state = sim_state(request)
    body = await _object(request)
    if body is None:
        return _error("body must be a JSON object")
    spec = upload_spec(body)
    if isinstance(spec, str):
        return _error(spec)
    video = state.create_video(spec)
    return JSONResponse(video.details(state.now(), state.clock))


async def get_faults(request: Request) -> Response:
    return JSONResponse(sim_state(request).faults.snapshot())


async def set_faults(request: Request) -> Response:
    faults = sim_state(request).faults
    body = await _object(request)
    if body is None:
        return _error("body must be a JSON object")
    try:
        faults.update(body)
    except ValueError as exc:
        return _error(str(exc))
    return JSONResponse(faults.snapshot())


async def clear_faults(request: Request) -> Response:
    state = sim_state(request)
    state.faults = type(state.faults)()
    return Response(status_code=204)


async def get_calls(request: Request) -> Response:
    return JSONResponse(sim_state(request).calls)


async def clear_calls(request: Request) -> Response:
    sim_state(request).calls.clear()
    return Response(status_code=204)


async def get_state(request: Request) -> Response:
    return JSONResponse(sim_state(request).dump())


async def finish_task(request: Request) -> Response:
    state = sim_state(request)
    task = state.tasks.get(str(request.path_params["task_id"]).lower())
    if task is None:
        return _error("Task not found", status_code=404)
    now = state.now()
    task.finish(now)
    return JSONResponse(task.to_json(now, state.clock))


routes = [
    route("/_sim/upload", POST=upload),
    route("/_sim/faults", GET=get_faults, POST=set_faults, DELETE=clear_faults),
    route("/_sim/calls", GET=get_calls, DELETE=clear_calls),
    route("/_sim/state", GET=get_state),
    route("/_sim/tasks/{task_id}/finish", POST=finish_task),
]
