"""Shared ending of the benchmark scripts: print each target as ok / MISSED, save JSON, exit code."""

from __future__ import annotations

import json
import resource
from pathlib import Path


def peak_memory_gb() -> float:
    """Maximum resident set size of this process so far (Linux reports it in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def finish(results: dict, checks: dict[str, bool], json_path: str | None) -> int:
    """Print the checks, write ``results`` (with the checks) as JSON if asked; 0 if all passed."""
    results["checks"] = checks
    for name, passed in checks.items():
        print(f"  [{'ok' if passed else 'MISSED'}] {name}")
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2))
    return 0 if all(checks.values()) else 1
