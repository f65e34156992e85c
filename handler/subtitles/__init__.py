"""Subtitle tracks as data: WebVTT in and out, validation, and the QC normaliser.

Pure functions only; nothing here does I/O, so every rule is testable from a string.
"""

from __future__ import annotations

from handler.subtitles.cue import Cue, VttError
from handler.subtitles.normalise import normalise
from handler.subtitles.presets import PRESETS
from handler.subtitles.qc import QcReport, RemovedCue
from handler.subtitles.reader import parse_vtt, validate_vtt
from handler.subtitles.segments import from_gcore_segments
from handler.subtitles.writer import to_vtt

__all__ = [
    "PRESETS",
    "Cue",
    "QcReport",
    "RemovedCue",
    "VttError",
    "from_gcore_segments",
    "normalise",
    "parse_vtt",
    "to_vtt",
    "validate_vtt",
]
