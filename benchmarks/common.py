"""Shared parts of the benchmark scripts: print each target as ok / MISSED, save JSON, exit code;
reprint a README table from an earlier run's JSON record."""

from __future__ import annotations

import argparse
import json
import resource
from collections.abc import Callable
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


def add_table_from(parser: argparse.ArgumentParser) -> None:
    """The ``--table-from RECORD.json`` option (see ``print_table_from``)."""
    parser.add_argument(
        "--table-from", help="print the README table of an earlier run's JSON file and stop"
    )


def print_table_from(path: str | None, table: Callable[[dict], str]) -> bool:
    """With ``--table-from``: print ``table`` of that JSON record and say so (the script stops)."""
    if not path:
        return False
    print(table(json.loads(Path(path).read_text())))
    return True
