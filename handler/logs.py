"""structlog set-up: one JSON (or console) line per event on stdout, configured once.

A webhook's canonical line is a fixed cost of every request, so the JSON chain is kept
short: one processor stamps level and time, orjson renders (timestamp included, from a
datetime, in a fraction of what json.dumps and TimeStamper take), and ``LineWriter``
writes the line. Anything orjson refuses (an int beyond 64 bits) falls back
to json.dumps, so a log call never fails on what it is given.

``LineWriter`` writes each line at once but, inside an event loop, flushes at the end of the
loop's current turn: the 30 lines of a burst of webhooks leave in one write(2) instead of
30. A line is never held longer than that turn; outside a loop (CLI commands, threads) every
line is flushed as it is written.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z
# structlog's add_log_level names, for the two methods whose name is not the level.
_LEVEL_OF_METHOD = {"exception": "error", "warn": "warning"}


def _format_exc_info(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog's format_exc_info, skipped at no cost by the lines that carry no exception."""
    if "exc_info" not in event_dict:
        return event_dict
    return structlog.processors.format_exc_info(logger, method_name, event_dict)


def _level_and_time(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """add_log_level and TimeStamper(fmt="iso", utc=True) in one step; the renderer formats."""
    event_dict["level"] = _LEVEL_OF_METHOD.get(method_name, method_name)
    event_dict["timestamp"] = datetime.datetime.now(datetime.UTC)
    return event_dict


def _render_json(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    try:
        return orjson.dumps(event_dict, option=_ORJSON).decode()
    except orjson.JSONEncodeError:

        def fallback(value: Any) -> Any:
            if isinstance(value, datetime.datetime):
                return value.isoformat().replace("+00:00", "Z")
            return repr(value)

        return json.dumps(event_dict, default=fallback, ensure_ascii=False)


class LineWriter:
    """A structlog logger: one line per call on a text stream (see the module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._flush_pending = False

    def msg(self, message: str) -> None:
        self.write_lines(message + "\n")

    def write_lines(self, lines: str) -> None:
        """Whole lines (each ending with a newline), written and flushed as ``msg`` does."""
        with self._lock:
            self._stream.write(lines)
            if self._flush_pending:
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._stream.flush()
                return
            self._flush_pending = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._flush_pending = False
            self._stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


# The writer of the JSON lines, while they are configured at INFO or below: ``hot_info``
# writes to it directly.
_hot_writer: LineWriter | None = None


def hot_info(event: str, **fields: Any) -> None:
    """An INFO line from a hot path: the line structlog would write, at a fraction of the cost.

    structlog's per-call machinery (bound logger, context copy, one call per processor) is
    the cost of a log line, and the webhook's canonical line is logged on every request:
    in place, it took a sixth of the ingest throughput. With the JSON format this builds the
    same line (bound context variables, event, level, timestamp) and renders and writes it
    as the configured chain does; with the console format, or INFO filtered out, it is a
    plain structlog call.
    """
    hot_info_lines(event, (fields,))


def hot_info_lines(event: str, rows: Iterable[dict[str, Any]]) -> None:
    """``hot_info(event, **row)`` for each row, rendered and written as one block.

    The lines are those of the configured JSON chain: the row, the event, the bound context
    (without overriding the row), level and timestamp.

    For events that come in batches (the webhooks of a group commit): one timestamp, one
    look at the bound context and one write for all of them, a fifth of the cost of a
    ``hot_info`` per row.
    """
    writer = _hot_writer
    if writer is None:
        for row in rows:
            structlog.get_logger().info(event, **row)
        return
    context = structlog.contextvars.get_contextvars()
    stamp = {"level": "info", "timestamp": datetime.datetime.now(datetime.UTC)}
    lines: list[bytes] = []
    for row in rows:
        line = {**row, "event": event}
        for key, value in context.items():
            line.setdefault(key, value)
        line.update(stamp)
        try:
            lines.append(orjson.dumps(line, option=_ORJSON | orjson.OPT_APPEND_NEWLINE))
        except orjson.JSONEncodeError:
            lines.append((_render_json(None, "info", line) + "\n").encode())
    writer.write_lines(b"".join(lines).decode())


def configure(log_format: str = "json", level: int = logging.INFO) -> None:
    global _hot_writer
    _hot_writer = None
    if log_format == "json":
        stamp_and_render: list[structlog.typing.Processor] = [_level_and_time, _render_json]
        writer = LineWriter(sys.stdout)
        if level <= logging.INFO:
            _hot_writer = writer

        def logger_factory(*args: Any) -> LineWriter:
            return writer

    else:
        stamp_and_render = [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty()),
        ]
        # One write per line (print makes two when stdout is unbuffered), flushed at once.
        logger_factory = structlog.WriteLoggerFactory(sys.stdout)  # type: ignore[assignment]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _format_exc_info,
            *stamp_and_render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=logger_factory,
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
