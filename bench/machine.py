"""What machine a benchmark ran on, for its JSON result and the README's figures."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import sqlite3
from pathlib import Path
from typing import Any

PACKAGES = ("uvicorn", "starlette", "uvloop", "httptools", "pydantic", "psycopg", "psycopg_pool")


def machine_info(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gib: float | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions: dict[str, str] = {}
    for module in packages:
        with contextlib.suppress(ImportError, AttributeError):
            versions[module] = str(__import__(module).__version__)
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
