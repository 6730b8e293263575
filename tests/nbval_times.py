"""A pytest plugin for ``make notebooks``: once nbval has run, print how long each notebook took
(its cells' set-up, run and tear-down times added up, kernel start included), so every CI log
records the per-notebook times the README quotes. Loaded with ``-p tests.nbval_times``."""

from __future__ import annotations

from collections import defaultdict

__all__ = ["notebook_seconds", "pytest_runtest_logreport", "pytest_terminal_summary"]

notebook_seconds: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        notebook_seconds[path] += report.duration


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(
        round(seconds), 60
    )  # round first: 59.6 s is "1 min 00 s", not "0 min 60 s"
    return f"{minutes} min {rest:02d} s"


def pytest_terminal_summary(terminalreporter) -> None:
    if not notebook_seconds:
        return
    terminalreporter.section("time per notebook under nbval")
    for path, seconds in sorted(notebook_seconds.items()):
        terminalreporter.write_line(f"{path:<48} {_minutes(seconds)}")
    terminalreporter.write_line(f"{'all notebooks':<48} {_minutes(sum(notebook_seconds.values()))}")
