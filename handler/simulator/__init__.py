"""A Gcore Video Streaming API simulator for the offline demo and end-to-end tests.

It serves the slice of the Streaming API autosubs uses (videos, subtitles, AI tasks) from
memory, derives every status from elapsed time, posts Gcore-style webhooks, and adds
``/_sim/*`` controls to upload videos, inject faults and inspect the calls it received.
"""

from handler.simulator.app import create_simulator_app
from handler.simulator.config import SimulatorConfig

__all__ = ["SimulatorConfig", "create_simulator_app"]
