"""A Gcore Video Streaming API simulator for the offline demo and end-to-end tests.

It serves, from memory, the slice of the Streaming API autosubs uses, shaped as Gcore's
OpenAPI file and API notes describe it (``Authorization: APIKey <key>`` required):

- ``GET/POST /streaming/videos``, ``GET/DELETE /streaming/videos/{id}``
- ``GET/POST /streaming/videos/{id}/subtitles``, ``GET/PATCH/DELETE .../subtitles/{sid}``
- ``POST/GET /streaming/ai/tasks``, ``GET /streaming/ai/tasks/{id}``,
  ``POST /streaming/ai/tasks/{id}/cancel``, ``GET /streaming/ai/info``

Nothing runs on a timer except webhook delivery: a video's status (empty → pending →
viewable → ready, renditions vod360p, vod480p, vod720p finishing in that order) and an AI
task's status and progress are computed from elapsed time, scaled by ``time_scale``.

Controls for tests and the demo (no authentication; not part of Gcore):

- ``POST /_sim/upload`` ``{"name", "duration_ms": 120000, "spoken_language": "eng",
  "speech": true}`` creates a video like ``POST /streaming/videos`` and returns its details.
- ``POST /_sim/faults`` sets any of ``http_429``, ``retry_after``, ``http_500``,
  ``queue_limit`` (next n API requests under ``path_prefix``; queue_limit: next n task
  creations) and ``task_failure``, ``no_speech``, ``vtt_no_newlines`` (next n created
  tasks); ``GET`` shows them, ``DELETE`` clears them.
- ``GET /_sim/calls`` lists every ``/streaming`` request as ``{method, path, query, url,
  headers (key redacted), body, status, response_headers, response_body, t}`` (``t``:
  seconds since the simulator started); ``DELETE`` empties the list.
- ``GET /_sim/state`` dumps videos, subtitles, tasks (statuses as of now), faults and
  webhook deliveries.
- ``POST /_sim/tasks/{id}/finish`` ends a task now with its planned outcome.
"""

from handler.simulator.app import create_simulator_app
from handler.simulator.config import SimulatorConfig

__all__ = ["SimulatorConfig", "create_simulator_app"]
