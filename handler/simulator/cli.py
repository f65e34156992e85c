"""``autosubs simulator``: serve the Gcore simulator on a port of its own."""

from __future__ import annotations

import uvicorn

from handler.simulator import SimulatorConfig, create_simulator_app


def run_simulator(
    host: str, port: int, webhook_url: str | None, api_key: str, time_scale: float
) -> int:
    app = create_simulator_app(
        SimulatorConfig(api_key=api_key, webhook_url=webhook_url, time_scale=time_scale)
    )
    print(
        f"Gcore simulator on http://{host}:{port} (API key {api_key!r}); webhooks → {webhook_url}"
    )
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
    return 0
