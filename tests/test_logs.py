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


HOT_SCRIPT = """
import asyncio
import os

import structlog
from handler import logs

logs.configure("json" if FORMAT == "json" else "console", level=LEVEL)
log = structlog.get_logger("test")

async def main():
    with structlog.contextvars.bound_contextvars(job_id="7:fre"):
        for hot in (False, True):
            emit = logs.hot_info if hot else log.info
            emit("webhook_accepted", type="video", video_id=2**70, new=True, hot=hot)
        logs.hot_info_lines("webhook_accepted", [
            {"type": "video", "video_id": 2**70, "new": True, "hot": "batch"},
            {"type": "video", "video_id": 5, "new": False, "hot": "batch"},
        ])
    logs.hot_info("after_the_loop_turn")  # flushed by the loop, not by the process exit
    await asyncio.sleep(0)
    os._exit(0)

asyncio.run(main())
"""


def _run_hot(fmt: str, level: str) -> subprocess.CompletedProcess[str]:
    script = f"import logging\nFORMAT = {fmt!r}\nLEVEL = logging.{level}\n" + HOT_SCRIPT
    return subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_hot_info_writes_the_line_structlog_writes() -> None:
    """The hot paths' lines (one, or a batch) have the same fields, bound context included,
    in the same order; inside a loop they are flushed at the end of the loop's turn
    (os._exit flushes nothing)."""
    done = _run_hot("json", "INFO")
    assert done.returncode == 0, done.stderr
    slow, hot, batch, batch2, after = (json.loads(line) for line in done.stdout.splitlines())
    for line in (slow, hot, batch, batch2):
        assert line.pop("timestamp").endswith("Z")
    assert list(slow) == list(hot) == list(batch) == [
        "type", "video_id", "new", "hot", "event", "job_id", "level"
    ]  # fmt: skip
    assert {**slow, "hot": True} == hot == {**batch, "hot": True}
    assert (batch2["video_id"], batch2["new"], batch2["job_id"]) == (5, False, "7:fre")
    assert hot["video_id"] == 2**70 and hot["job_id"] == "7:fre" and hot["level"] == "info"
    assert after["event"] == "after_the_loop_turn"


def test_hot_info_follows_the_configured_format_and_level() -> None:
    """Console format: structlog renders it (no JSON). Above INFO: nothing is written."""
    console = _run_hot("console", "INFO")
    assert console.returncode == 0, console.stderr
    assert console.stdout.count("webhook_accepted") == 4
    assert "{" not in console.stdout
    quiet = _run_hot("json", "WARNING")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == ""
