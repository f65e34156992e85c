"""``/streaming/ai/*``: create, read, list and cancel AI tasks; language support info."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from handler.languages import BY_CODE, UnknownLanguage, normalise_code, pair_plausible
from handler.simulator.errors import QUEUE_LIMIT_TEXT, ai_error, not_found
from handler.simulator.parsing import BadJSON, int_or_none, json_body, route, sim_state
from handler.simulator.state import QUEUE_LIMIT
from handler.simulator.task_list import InvalidPage, TaskQuery, list_page

TRANSCRIPTION = "transcription"
# Optional string fields of ``ai_transcribe`` and their documented maximum lengths.
_OPTIONAL_TEXT: dict[str, int | None] = {
    "audio_language": None,
    "subtitles_language": None,
    "client_user_id": 256,
    "client_entity_data": 4096,
}


def task_request(body: Any) -> dict[str, Any] | str:
    """The ``task_data`` to store for a create request, or the error text for a 400."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    # The spec's own curl example omits task_name; the schema requires it. Accept both.
    task_name = body.get("task_name", TRANSCRIPTION)
    if task_name == "content-moderation":
        return "Task 'content-moderation' is not available in this simulator."
    if task_name != TRANSCRIPTION:
        return f"Unknown task_name: {task_name!r}."
    url = body.get("url")
    if not isinstance(url, str) or not url.strip():
        return '"url" is not specified'
    data: dict[str, Any] = {"task_name": TRANSCRIPTION, "url": url.strip()}
    for key, max_length in _OPTIONAL_TEXT.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            return f'"{key}" must be a string.'
        if max_length is not None and len(value) > max_length:
            return f'"{key}" must be at most {max_length} characters.'
        data[key] = value
    audio = data.get("audio_language")
    if audio is not None and audio not in BY_CODE:
        return f"Language code is not recognized: {audio}"
    return data


async def create_task(request: Request) -> Response:
    state = sim_state(request)
    try:
        body = await json_body(request)
    except BadJSON:
        return ai_error("Request body must be JSON.")
    data = task_request(body)
    if isinstance(data, str):
        return ai_error(data)
    if state.queued_tasks() >= QUEUE_LIMIT:
        return ai_error(QUEUE_LIMIT_TEXT)
    task = state.create_task(data)
    return JSONResponse({"task_id": task.task_id}, status_code=201)


async def get_task(request: Request) -> Response:
    state = sim_state(request)
    task = state.tasks.get(str(request.path_params["task_id"]).lower())
    if task is None:
        return not_found()
    return JSONResponse(task.to_json(state.now(), state.clock))


async def list_tasks(request: Request) -> Response:
    state = sim_state(request)
    params = request.query_params
    page = int_or_none(params.get("page", "1"))
    if page is None:
        return not_found()
    query = TaskQuery(
        page=page,
        limit=int_or_none(params.get("limit")) or 10,
        status=params.get("status") or None,
        task_name=params.get("task_name") or None,
        task_id=params.get("task_id") or None,
        search=params.get("search") or None,
        ordering=params.get("ordering") or None,
        date_created=params.get("date_created") or None,
    )
    try:
        return JSONResponse(list_page(state.tasks.values(), query, state.now(), state.clock))
    except InvalidPage:
        return not_found()


async def cancel_task(request: Request) -> Response:
    state = sim_state(request)
    task = state.tasks.get(str(request.path_params["task_id"]).lower())
    if task is None:
        return ai_error("Task not found", status_code=404)
    now = state.now()
    status = task.status(now)
    if task.terminal(now):
        return ai_error(
            f"Cannot cancel task because it is already in status {status}.", status_code=412
        )
    task.cancel(now)
    return JSONResponse({"result": "Task has been cancelled successfully."}, status_code=202)


def _code(value: str) -> str | None:
    try:
        return normalise_code(value)
    except UnknownLanguage:
        return None


async def ai_info(request: Request) -> Response:
    params = request.query_params
    if params.get("type") != "language_support":
        return ai_error("Invalid config type")
    audio = params.get("audio_language")
    if not audio:
        return ai_error("audio_language is required for type=language_support")
    # /ai/info lists T codes under a B label, so both forms are understood here.
    source = _code(audio)
    target_text = params.get("subtitles_language")
    if not target_text:
        return JSONResponse({"supported": source is not None})
    target = _code(target_text)
    supported = source is not None and target is not None and pair_plausible(source, target)
    return JSONResponse({"supported": supported})


routes = [
    route("/streaming/ai/tasks", GET=list_tasks, POST=create_task),
    route("/streaming/ai/tasks/{task_id}", GET=get_task),
    route("/streaming/ai/tasks/{task_id}/cancel", POST=cancel_task),
    route("/streaming/ai/info", GET=ai_info),
]
