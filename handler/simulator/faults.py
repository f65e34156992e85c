"""Injected failures: counters that the next matching requests or new tasks consume."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

_COUNTERS = ("http_429", "http_500", "queue_limit", "task_failure", "no_speech", "vtt_no_newlines")
AI_TASKS_PATH = "/streaming/ai/tasks"


@dataclass(slots=True)
class Faults:
    http_429: int = 0
    retry_after: float = 1.0
    http_500: int = 0
    queue_limit: int = 0
    task_failure: int = 0
    no_speech: int = 0
    vtt_no_newlines: int = 0
    # Only requests under this path get the HTTP faults (429/500).
    path_prefix: str = "/streaming"

    def update(self, changes: dict[str, Any]) -> None:
        """Set the given fields; raise ValueError (and change nothing) on bad input."""
        staged = asdict(self)
        for key, value in changes.items():
            if key in _COUNTERS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
            elif key == "retry_after":
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError("retry_after must be a non-negative number of seconds")
                value = float(value)
            elif key == "path_prefix":
                if not isinstance(value, str) or not value.startswith("/"):
                    raise ValueError("path_prefix must be a path starting with /")
            else:
                raise ValueError(f"unknown fault {key!r}")
            staged[key] = value
        for key, value in staged.items():
            setattr(self, key, value)

    def snapshot(self) -> dict[str, Any]:
        return asdict(self)

    def _take(self, counter: str) -> bool:
        left = getattr(self, counter)
        if left <= 0:
            return False
        setattr(self, counter, left - 1)
        return True

    def take_http(self, method: str, path: str) -> str | None:
        """The HTTP fault this request gets, if any: "http_429", "http_500" or "queue_limit"."""
        if path.startswith(self.path_prefix):
            for counter in ("http_429", "http_500"):
                if self._take(counter):
                    return counter
        if method == "POST" and path.rstrip("/") == AI_TASKS_PATH and self._take("queue_limit"):
            return "queue_limit"
        return None

    def take_task_faults(self) -> set[str]:
        """The faults a newly created task gets; each consumes one from its counter."""
        return {c for c in ("task_failure", "no_speech", "vtt_no_newlines") if self._take(c)}
