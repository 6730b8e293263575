"""A pytest plugin for ``make notebooks`` and ``make standalone-notebooks``.

Once nbval has run, it prints how long each notebook took (its cells' set-up, run and tear-down
times added up, kernel start included), so every CI log records the per-notebook times the README
quotes. Loaded with ``-p tests.nbval_times`` (or ``-p nbval_times`` with ``tests`` on the path).

It also decides which notebooks share a worker (with ``-n 2``): the notebooks named in
``NBVAL_OWN_WORKER`` (file stems, separated by spaces) run on one worker, every other notebook on
the other, each notebook's cells in order in one kernel. Two workers with an even split finish
sooner than xdist's own assignment (``loadscope``), which put the longest notebooks on one worker.

With ``NBVAL_OWN_WORKER`` set, each worker is also given its own share of the CPUs
(``worker_cpus``), which the notebook kernels it starts inherit. Notebooks time things and assert
ratios of those times (a bigger backbone costs more per photo, int8 beats float32); two kernels
competing for the same cores slow one side of a ratio more than the other, while a kernel on cores
of its own is timed as on a smaller machine, evenly. TensorFlow sizes its thread pools to the CPUs
it may use. In quick mode (``TL_QUICK=1``), which asserts nothing about time, the lanes share
every core: pinned, one lane's single-threaded stretches left a core idle (quick notebooks in
547 s against 334 s unpinned).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

__all__ = [
    "OWN_WORKER_VARIABLE",
    "notebook_groups",
    "pytest_configure",
    "notebook_seconds",
    "pytest_xdist_make_scheduler",
    "pytest_runtest_logreport",
    "pytest_terminal_summary",
    "worker_cpus",
]

OWN_WORKER_VARIABLE = "NBVAL_OWN_WORKER"
notebook_seconds: defaultdict[str, float] = defaultdict(float)


def notebook_groups(paths: list[str], own_worker: str) -> dict[str, str]:
    """The xdist group of each notebook path: "own" for those whose stem ``own_worker`` names,
    "rest" for the others. When none of the paths is named (a run of a few notebooks), each
    notebook is a group of its own, which is what ``--dist loadscope`` would do."""
    named = set(own_worker.split())
    if not any(Path(path).stem in named for path in paths):
        return {path: Path(path).stem for path in paths}
    return {path: "own" if Path(path).stem in named else "rest" for path in paths}


def worker_cpus(cpus: list[int], worker: int, workers: int) -> set[int]:
    """Worker ``worker``'s share of ``cpus`` when ``workers`` share them: consecutive, equal
    shares (the last takes any remainder); all of them when there are fewer CPUs than workers."""
    if workers < 1 or not 0 <= worker < workers:
        raise ValueError(f"worker {worker} of {workers}")
    share = len(cpus) // workers
    if share == 0:
        return set(cpus)
    stop = len(cpus) if worker == workers - 1 else (worker + 1) * share
    return set(cpus[worker * share : stop])


def pytest_configure(config) -> None:  # noqa: ANN001
    """On an xdist worker of a notebook run with named groups, keep to this worker's CPUs."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... on workers only
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not worker or not os.environ.get(OWN_WORKER_VARIABLE, "").split():
        return
    if os.environ.get("TL_QUICK") == "1":  # quick mode asserts no timings: let lanes share cores
        return
    if not hasattr(os, "sched_setaffinity"):  # macOS, Windows: no affinity; run unpinned
        return
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, worker_cpus(allowed, int(worker.removeprefix("gw")), workers))


def pytest_xdist_make_scheduler(config, log):  # noqa: ANN001, ANN201
    """With ``NBVAL_OWN_WORKER`` set, xdist's ``loadscope`` with the notebooks' groups as scopes
    (xdist's own ``loadgroup`` cannot be used: it renames test ids, which pytest 9.2 ignores)."""
    named = os.environ.get(OWN_WORKER_VARIABLE, "")
    if not named.split():
        return None  # xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class NotebookGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:  # the collection is complete before the first call
                paths = {item.split("::")[0] for item in self.collection or [nodeid]}
                self._groups = notebook_groups(sorted(paths), named)
            return self._groups.get(nodeid.split("::")[0], nodeid)

    scheduler = NotebookGroups(config, log)
    scheduler._groups = None
    return scheduler


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
