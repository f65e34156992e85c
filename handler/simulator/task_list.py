"""``GET /streaming/ai/tasks``: filtering, search, ordering and page envelopes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from handler.simulator.ai_tasks import Task
from handler.simulator.clock import Clock

ORDERINGS = frozenset({"task_id", "status", "task_name", "started_at"})
MAX_LIMIT = 1_000


class InvalidPage(LookupError):
    """A page past the end, which Gcore (a Django REST API) answers with 404."""


@dataclass(frozen=True, slots=True)
class TaskQuery:
    page: int = 1
    limit: int = 10
    status: str | None = None
    task_name: str | None = None
    task_id: str | None = None
    search: str | None = None
    ordering: str | None = None
    date_created: str | None = None


def _haystack(task: Task, status: str) -> str:
    # Gcore searches task_data as stored JSON; also searching the raw string values means a
    # marker inside client_entity_data matches even when it contains quotes that JSON escapes.
    values = [str(v) for v in task.task_data.values()]
    parts = [task.task_id, task.task_name, status, json.dumps(task.task_data, ensure_ascii=False)]
    return "\n".join(parts + values).casefold()


def _matches(task: Task, query: TaskQuery, now: float, clock: Clock) -> bool:
    status = task.status(now)
    if query.status and status != query.status.upper():
        return False
    if query.task_name and task.task_name != query.task_name:
        return False
    if query.task_id and task.task_id != query.task_id.lower():
        return False
    if query.date_created and not clock.iso(task.created_at).startswith(query.date_created):
        return False
    return not query.search or query.search.casefold() in _haystack(task, status)


def _sorted(tasks: list[Task], ordering: str | None, now: float) -> list[Task]:
    field = (ordering or "-started_at").strip()
    descending = field.startswith("-")
    field = field.lstrip("-")
    if field not in ORDERINGS:
        field, descending = "started_at", True
    keys: dict[str, Any] = {
        "task_id": lambda t: t.task_id,
        "status": lambda t: t.status(now),
        "task_name": lambda t: t.task_name,
        "started_at": lambda t: (t.created_at, t.seq),
    }
    return sorted(tasks, key=keys[field], reverse=descending)


def list_page(tasks: Iterable[Task], query: TaskQuery, now: float, clock: Clock) -> dict[str, Any]:
    """The ``{count, next, previous, results}`` envelope; results omit ``result``."""
    selected = _sorted([t for t in tasks if _matches(t, query, now, clock)], query.ordering, now)
    limit = max(1, min(query.limit, MAX_LIMIT))
    pages = max(1, -(-len(selected) // limit))
    if query.page < 1 or query.page > pages:
        raise InvalidPage(query.page)
    first = (query.page - 1) * limit
    window = selected[first : first + limit]
    return {
        "count": len(selected),
        "next": f"page={query.page + 1}" if query.page < pages else None,
        "previous": f"page={query.page - 1}" if query.page > 1 else None,
        "results": [t.to_json(now, clock, with_result=False) for t in window],
    }
