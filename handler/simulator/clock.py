"""Simulated time: one monotonic origin, mapped to wall-clock timestamps for the API."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Monotonic seconds for state decisions; wall-clock ISO strings only for output.

    Statuses are derived from elapsed monotonic time, so a wall-clock jump on the host
    can never move a task backwards.
    """

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._wall0 = datetime.now(UTC)

    def now(self) -> float:
        """Seconds since the simulator started."""
        return time.monotonic() - self._mono0

    def wall(self, at: float) -> datetime:
        return self._wall0 + timedelta(seconds=at)

    def iso(self, at: float) -> str:
        """Gcore's timestamp style: milliseconds and a literal ``Z``."""
        moment = self.wall(at)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
