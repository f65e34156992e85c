"""Gcore's error bodies; the Streaming API uses several small shapes, not one envelope."""

from __future__ import annotations

from starlette.responses import JSONResponse

NOT_FOUND_TEXT = (
    "Not Found. Entity you are looking for was not found, please check the initial parameters"
)
QUEUE_LIMIT_TEXT = "Queue limit reached (100), try later."
LANGUAGE_TEXT = "Unprocessable Entity. Language code is not recognized."
FEATURE_DISABLED_TEXT = "Feature is disabled. Contact support to enable."


def not_found() -> JSONResponse:
    """``notfound`` schema: videos, subtitles, AI task lookups."""
    return JSONResponse({"status": 404, "error": NOT_FOUND_TEXT}, status_code=404)


def bad_request(message: str) -> JSONResponse:
    """``badrequest`` schema (with a status field): videos and subtitles."""
    return JSONResponse({"status": 400, "error": message}, status_code=400)


def language_not_recognized() -> JSONResponse:
    return JSONResponse({"status": 422, "error": LANGUAGE_TEXT}, status_code=422)


def ai_error(message: str, status_code: int = 400) -> JSONResponse:
    """``error`` schema: the AI endpoints answer with a bare ``{"error": ...}``."""
    return JSONResponse({"error": message}, status_code=status_code)


def unauthorized(detail: str) -> JSONResponse:
    # Gcore's gateway is Django REST framework: 401 bodies use "detail".
    return JSONResponse({"detail": detail}, status_code=401)
