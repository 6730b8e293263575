"""Colab and Kaggle set-up (tl_helpers.hosted): detection, what is kept and installed, folders,
the one setup cell and the links, all in every notebook; and where data goes when installed."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

import tl_helpers
from tl_helpers import config, hosted

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.fixture
def on_colab(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)


@pytest.fixture
def course_requires(monkeypatch):
    """Pretend the installed course requires ``texts`` (what its metadata would list)."""

    def pretend(*texts: str) -> None:
        real = importlib.metadata.requires
        monkeypatch.setattr(
            importlib.metadata,
            "requires",
            lambda name: list(texts) if name == hosted.DISTRIBUTION else real(name),
        )

    return pretend


def test_detect_host(on_colab, monkeypatch):
    assert hosted.detect_host() == "colab"
    monkeypatch.delitem(sys.modules, "google.colab")  # and it cannot be imported here
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    assert hosted.detect_host() == "kaggle"
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    assert hosted.detect_host() is None


def test_missing_requirements_follow_the_installed_versions_and_extras(course_requires):
    numpy = importlib.metadata.version("numpy")
    course_requires(
        f"numpy>={numpy}",
        "tensorflow>=99",
        'ipywidgets>=7.7.1,<9; extra == "course"',
        'not-a-real-package-xyz>=1; extra == "course"',
        'pytest>=99; extra == "test"',  # another extra: not the course's business here
    )
    assert hosted.missing_requirements() == ["tensorflow>=99", "not-a-real-package-xyz>=1"]


def test_kept_constraints_pin_runtime_packages_inside_the_ranges_only(course_requires):
    course_requires("tensorflow>=2.21,<2.22", "numpy>=99")
    pins = hosted.kept_constraints()
    assert f"tensorflow=={importlib.metadata.version('tensorflow')}" in pins
    assert f"ipykernel=={importlib.metadata.version('ipykernel')}" in pins  # no range: kept
    assert not [pin for pin in pins if pin.startswith("numpy==")]  # out of range: pip may change it


def test_prepare_installs_what_is_missing_with_the_runtime_pinned(
    on_colab, course_requires, monkeypatch, tmp_path
):
    for variable in ("TL_DATA_DIR", "TL_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(hosted.HOME_VARIABLE, str(tmp_path / "home"))
    course_requires("tensorflow>=2.21,<2.22", "not-a-real-package-xyz>=1")
    calls, shown = [], []

    def install(arguments):
        constraints = Path(arguments[arguments.index("-c") + 1]).read_text().split()
        calls.append((arguments, constraints))

    setup = hosted.prepare(install=install, show=shown.append)
    assert setup is not None and setup.host == "colab" and not setup.needs_restart
    ((arguments, constraints),) = calls
    assert arguments[0] == "install" and arguments[-1] == "not-a-real-package-xyz>=1"
    assert f"tensorflow=={importlib.metadata.version('tensorflow')}" in constraints
    assert setup.folders == {
        "TL_DATA_DIR": str(tmp_path / "home" / "data"),
        "TL_CACHE_DIR": str(tmp_path / "home" / "cache"),
    }
    assert (tmp_path / "home" / "data").is_dir() and config.data_dir() == tmp_path / "home" / "data"
    assert "device:" in "\n".join(shown) and ("GPU" in setup.device or "CPU only" in setup.device)


def test_prepare_keeps_folders_the_user_chose_and_installs_nothing_when_complete(
    on_colab, course_requires, monkeypatch, tmp_path
):
    monkeypatch.setenv("TL_DATA_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "cache"))
    course_requires("tensorflow>=2.21,<2.22")
    setup = hosted.prepare(
        install=lambda arguments: pytest.fail(f"pip ran: {arguments}"), show=print
    )
    assert setup is not None and setup.installed == []
    assert setup.folders["TL_DATA_DIR"] == str(tmp_path / "mine")


def test_prepare_does_nothing_elsewhere(monkeypatch, capsys):
    monkeypatch.setattr(hosted, "detect_host", lambda: None)
    assert hosted.prepare(install=lambda arguments: pytest.fail("pip ran")) is None
    assert capsys.readouterr().out == ""


def test_the_setup_cell_installs_the_course_then_prepares_only_when_hosted(on_colab, monkeypatch):
    code = TransformerManager().transform_cell(hosted.setup_cell_source())
    assert "run_line_magic('pip', 'install --quiet --no-deps \"$source\"')" in code
    magics, prepared = [], []
    monkeypatch.setattr(hosted, "prepare", lambda: prepared.append(True))
    shell = types.SimpleNamespace(run_line_magic=lambda *call: magics.append(call))
    exec(compile(code, "setup cell", "exec"), {"get_ipython": lambda: shell})
    assert magics == [("pip", 'install --quiet --no-deps "$source"')] and prepared == [True]
    monkeypatch.delitem(sys.modules, "google.colab")
    magics.clear()
    namespace = {"get_ipython": lambda: shell, "__builtins__": __builtins__}
    exec(compile(code, "setup cell", "exec"), namespace)
    assert magics == [] and namespace["HOSTED"] is False


def test_the_source_is_named_once_and_can_be_overridden(monkeypatch):
    assert hosted.COURSE_REPOSITORY in hosted.repository_source()
    assert hosted.repository_source() in hosted.setup_cell_source()
    monkeypatch.setenv(hosted.SOURCE_VARIABLE, "/wheels/tl_helpers-0.1.0-py3-none-any.whl")
    assert hosted.course_source() == "/wheels/tl_helpers-0.1.0-py3-none-any.whl"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_setup_cell_and_the_links(path):
    cells = nbformat.read(path, as_version=4).cells
    first_code = next(c for c in cells if c.cell_type == "code")
    assert first_code.source == hosted.setup_cell_source(), (
        f"{path.name}: run python -m tl_helpers.hosted write notebooks"
    )
    links = hosted.notebook_links(path.name)
    assert links["colab"] in cells[0].source and links["kaggle"] in cells[0].source
    readme = (ROOT / "README.md").read_text()
    assert links["colab"] in readme, f"README: no Open-in-Colab link for {path.name}"


def test_writing_the_cells_is_idempotent_and_check_reports_differences(tmp_path, capsys):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 09 · Title\n\n**What you will learn**"),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    path = tmp_path / "09_new.ipynb"
    nbformat.write(notebook, path)
    assert hosted.main(["check", str(tmp_path)]) == 1 and "differs" in capsys.readouterr().out
    assert hosted.write_notebooks(tmp_path) == [path]
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["markdown", "code", "code"]
    assert cells[1].source == hosted.setup_cell_source() and cells[2].source == "x = 1"
    assert cells[0].source.startswith("# 09 · Title\n\n[![Open in Colab]")
    assert hosted.write_notebooks(tmp_path) == [] and hosted.main(["check", str(tmp_path)]) == 0


def test_installed_from_a_wheel_data_goes_to_the_user_folder_not_site_packages():
    installed = "site-packages" in Path(tl_helpers.__file__).parts
    assert config.IN_CHECKOUT is not installed
    if installed:  # make test-python: the wheel, not this checkout
        assert "site-packages" not in config.DATASETS_DIR.parts
    else:
        assert config.DATASETS_DIR == ROOT / "datasets"


def test_the_readme_links_block_is_rewritten_in_place_and_required(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), notebooks / "01_first.ipynb")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{hosted.README_START}\nstale\n{hosted.README_END}\nrest\n")
    assert hosted.write_readme(readme, notebooks) is True
    text = readme.read_text()
    assert "stale" not in text and hosted.notebook_links("01_first.ipynb")["kaggle"] in text
    assert text.startswith("intro\n") and text.endswith("\nrest\n")
    assert hosted.write_readme(readme, notebooks) is False
    readme.write_text("no block here\n")
    with pytest.raises(ValueError, match="no <!-- hosted-links"):
        hosted.write_readme(readme, notebooks)
