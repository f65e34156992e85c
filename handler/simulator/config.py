"""Settings of one simulator instance."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SimulatorConfig:
    """How the simulated Gcore account behaves.

    ``time_scale`` multiplies every simulated duration (transcoding, AI queue and processing),
    so tests can run the whole lifecycle in a second and a demo in a few seconds.
    """

    api_key: str = "sim-key"
    webhook_url: str | None = None
    time_scale: float = 1.0
    client_id: int = 2675
    public_host: str = "http://127.0.0.1"

    def __post_init__(self) -> None:
        if self.time_scale < 0:
            raise ValueError("time_scale must not be negative")
        self.public_host = self.public_host.rstrip("/")
