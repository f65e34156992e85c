"""Prometheus text exposition of the ledger's state and the service's counters."""

from __future__ import annotations

from collections import Counter

from handler.gcore import GcoreClient
from handler.ledger import LedgerProtocol


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(
    name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]
) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return "\n".join(lines)


async def render(
    ledger: LedgerProtocol, webhook_stats: Counter[str], gcore: GcoreClient | None
) -> str:
    counts = await ledger.counts()
    families = [
        _family(
            "autosubs_videos",
            "gauge",
            "Videos in the ledger by state.",
            [({"state": s}, n) for s, n in sorted(counts["videos"].items())],
        ),
        _family(
            "autosubs_tracks",
            "gauge",
            "Track jobs in the ledger by state.",
            [({"state": s}, n) for s, n in sorted(counts["tracks"].items())],
        ),
        _family(
            "autosubs_webhooks_total",
            "counter",
            "Webhook requests by outcome since start.",
            [({"outcome": k}, n) for k, n in sorted(webhook_stats.items())],
        ),
    ]
    if gcore is not None:
        samples = []
        for key, n in sorted(gcore.calls.items()):
            endpoint, _, status = key.rpartition(" ")
            samples.append(({"endpoint": endpoint, "status": status}, float(n)))
        families.append(
            _family(
                "autosubs_gcore_calls_total", "counter", "Gcore API calls since start.", samples
            )
        )
    return "\n".join(families) + "\n"
