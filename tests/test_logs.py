"""structlog set-up (handler.logs): JSON lines on stdout, whatever a line carries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import structlog
from handler import logs

logs.configure("json")
log = structlog.get_logger("test")
log.info("webhook_accepted", type="video", video_id=42, new=True, token_fp="0123456789")
log.info("odd_values", big=2**70, keys={1: "one"}, text="Danke fürs Zuschauen")
with structlog.contextvars.bound_contextvars(job_id="7:fre"):
    log.warning("bound")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("failed")
"""


def test_json_lines_on_stdout() -> None:
    """One JSON object per line on stdout: ints beyond 64 bits, non-string keys, non-ASCII
    text, bound context and tracebacks included; nothing on stderr."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    events = [line["event"] for line in lines]
    assert events == ["webhook_accepted", "odd_values", "bound", "failed"]
    assert lines[0] == {
        "type": "video", "video_id": 42, "new": True, "token_fp": "0123456789",
        "event": "webhook_accepted", "level": "info", "timestamp": lines[0]["timestamp"],
    }  # fmt: skip
    assert lines[0]["timestamp"].endswith("Z")
    assert lines[1]["big"] == 2**70
    assert lines[1]["keys"] == {"1": "one"}
    assert lines[1]["text"] == "Danke fürs Zuschauen"
    assert lines[2]["job_id"] == "7:fre"
    assert "ZeroDivisionError" in lines[3]["exception"]
