"""autosubs: automatic AI subtitles for Gcore Video Streaming."""

__version__ = "0.1.0"
