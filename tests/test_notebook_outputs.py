"""What a reader sees in the committed notebooks, without running them: no C++ log lines, no
local paths, no walls of per-epoch lines, widgets with a static copy, and run times that agree
with how long the committed run took."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

CPP_LOG_LINE = re.compile(
    r"^[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+\.cc:\d+\]|absl::InitializeLog", re.MULTILINE
)
LOCAL_PATH = re.compile(r"(?<![\w.~])/(home|root|work|tmp|Users|usr|opt|var|mnt|private)/")
EPOCH_LINE = re.compile(
    r"^.*(\bepoch\s+\d+\b|^Epoch \d+/\d+|^\d+/\d+ - \d+s)", re.IGNORECASE | re.MULTILINE
)
WIDGET = "application/vnd.jupyter.widget-view+json"
MAX_EPOCH_LINES = 15


def output_texts(cell: nbformat.NotebookNode) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            texts.append(output.text)
        elif output.output_type == "error":
            texts.append("\n".join(output.traceback))
        else:
            texts += [
                value
                for key, value in output.get("data", {}).items()
                if key.startswith("text/") and isinstance(value, str)
            ]
    return texts


def code_cells(path: Path) -> list[tuple[int, nbformat.NotebookNode]]:
    return [
        (index, cell)
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cpp_log_lines(path):
    found = [
        (index, match.group(0))
        for index, cell in code_cells(path)
        for text in output_texts(cell)
        for match in CPP_LOG_LINE.finditer(text)
    ]
    assert not found, (
        f"{path.name}: TensorFlow's C++ log lines in the committed outputs (cell, line): {found[:3]}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_local_paths(path):
    found = [
        (index, text[max(0, match.start() - 30) : match.end() + 30])
        for index, cell in code_cells(path)
        for text in output_texts(cell)
        for match in LOCAL_PATH.finditer(text)
    ]
    assert not found, (
        f"{path.name}: absolute local paths in the outputs (show them relative to the data folder): {found[:3]}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_wall_of_epoch_lines(path):
    for index, cell in code_cells(path):
        lines = sum(len(EPOCH_LINE.findall(text)) for text in output_texts(cell))
        assert lines <= MAX_EPOCH_LINES, (
            f"{path.name} cell {index}: {lines} per-epoch lines; show a curve instead"
        )


# The course's widgets, by the call that makes each, and the notebooks that must show them.
WIDGET_CALLS = ("tl.MisclassificationBrowser(", "tl.UploadPredictor(")
WIDGET_NOTEBOOKS = {"04_flowers_multiclass.ipynb", "06_your_own_images.ipynb"}


def widget_cells(path: Path) -> list[tuple[int, dict]]:
    return [
        (index, cell)
        for index, cell in code_cells(path)
        if any(call in cell.source for call in WIDGET_CALLS)
    ]


def test_the_widget_notebooks_are_the_ones_that_make_widgets():
    assert {path.name for path in NOTEBOOKS if widget_cells(path)} == WIDGET_NOTEBOOKS


@pytest.mark.parametrize("name", sorted(WIDGET_NOTEBOOKS))
def test_widgets_have_a_static_copy_with_a_picture(name):
    """Without a kernel (GitHub, nbviewer, a closed laptop), a widget shows only as its static
    copy: each widget a cell makes must be saved with one, and the copy must hold a picture."""
    path = ROOT / "notebooks" / name
    for index, cell in widget_cells(path):
        shown = [
            output["data"] for output in cell.get("outputs", []) if WIDGET in output.get("data", {})
        ]
        assert shown, f"{name} cell {index}: makes a widget but its saved output has none"
        for data in shown:
            picture = (
                "image/png" in data
                or "<img" in data.get("text/html", "")
                and ("data:image" in data.get("text/html", ""))
            )
            assert picture, f"{name} cell {index}: the widget's static copy has no picture"


def stated_minutes(path: Path) -> int:
    first = nbformat.read(path, as_version=4).cells[0].source
    match = re.search(r"\*\*Run time\*\*: (?:about|under) (\d+) minutes?", first)
    assert match, f"{path.name}: the first cell should say '**Run time**: about N minutes'"
    return int(match.group(1))


def measured_minutes(path: Path) -> float:
    cells = [cell for _, cell in code_cells(path)]
    stamps = [cell.metadata.get("execution", {}) for cell in cells]
    start, end = stamps[0].get("iopub.execute_input"), stamps[-1].get("shell.execute_reply")
    assert start and end, (
        f"{path.name}: committed without execution times; run it with jupyter nbconvert --execute"
    )
    parse = lambda stamp: datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() / 60


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stated_run_time_matches_the_committed_run(path):
    stated, measured = stated_minutes(path), measured_minutes(path)
    assert abs(stated - measured) <= max(1.0, 0.25 * measured), (
        f"{path.name}: the header says {stated} min, the committed run took {measured:.1f} min"
    )
    readme_row = next(
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if f"`{path.stem}`" in line and line.startswith("|")
    )
    assert re.search(rf"(about|under) {stated} min\b", readme_row), (
        f"README's row for {path.stem} should say about {stated} min"
    )


CACHE_STATE = re.compile(r"from_cache|\.seconds\b|cache_dir\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_output_checked_cells_print_nothing_about_the_cache(path):
    """A warm cache (a second run, CI on a machine that ran the course) and a cold one must give
    the same checked output, so no checked cell may print the cache's state or a pass's time."""
    checked = [
        (index, match.group(0))
        for index, cell in code_cells(path)
        if "# NBVAL_CHECK_OUTPUT" in cell.source
        for match in CACHE_STATE.finditer(cell.source)
    ]
    assert not checked, f"{path.name}: output-checked cells that depend on the cache: {checked}"


def test_the_notebook_globs_find_every_notebook():
    """An empty list would make every parametrized notebook test vanish instead of failing."""
    assert len(NOTEBOOKS) >= 8, NOTEBOOKS
