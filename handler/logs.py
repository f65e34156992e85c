"""structlog set-up: one JSON (or console) line per event on stdout, configured once.

JSON lines are rendered with orjson: a webhook's canonical line is a fixed cost of every
request, and orjson renders it (timestamp included, from a datetime) in a fraction of what
json.dumps and TimeStamper take. Anything orjson refuses (an int beyond 64 bits) falls back
to json.dumps, so a log call never fails on what it is given.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def _utc_now(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """What TimeStamper(fmt="iso", utc=True) writes, left for the renderer to format."""
    event_dict["timestamp"] = datetime.datetime.now(datetime.UTC)
    return event_dict


def _dumps(event_dict: EventDict, default: Any = None) -> str:
    try:
        return orjson.dumps(event_dict, default=default, option=_ORJSON).decode()
    except orjson.JSONEncodeError:

        def fallback(value: Any) -> Any:
            if isinstance(value, datetime.datetime):
                return value.isoformat().replace("+00:00", "Z")
            return default(value) if default is not None else repr(value)

        return json.dumps(event_dict, default=fallback)


def configure(log_format: str = "json", level: int = logging.INFO) -> None:
    stamp_and_render: list[structlog.typing.Processor] = (
        [_utc_now, structlog.processors.JSONRenderer(serializer=_dumps)]
        if log_format == "json"
        else [
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            *stamp_and_render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line (print makes two when stdout is unbuffered), flushed at once.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # uvicorn's own loggers (startup, errors) go to stderr in plain text.
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request at INFO: one plain-text line per Gcore call, outside our JSON
    # events (which already count calls in /metrics). Only their warnings are worth a line.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
