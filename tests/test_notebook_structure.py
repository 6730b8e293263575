"""Every course notebook opens with goals, prerequisites and a run time, ends with a questionnaire
whose answers are hidden, and has checked exercises; notebook 05 shows every pitfall in a figure."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_goals_prerequisites_and_run_time(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    for needed in ("What you will learn", "Prerequisites", "Run time"):
        assert needed in first.source, f"{path.name}: the first cell should say '{needed}'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_exercises_with_hidden_checked_solutions(path):
    cells = nbformat.read(path, as_version=4).cells
    hidden = [c for c in cells if "solution" in c.metadata.get("tags", [])]
    solutions = [c for c in hidden if c.cell_type == "code"]
    assert 2 <= len(solutions) <= 3, f"{path.name}: 2-3 exercises with solutions"
    for cell in hidden:  # solutions, and the answers to a questionnaire
        assert cell.metadata.get("jupyter", {}).get("source_hidden"), "solutions start collapsed"
    for cell in solutions:
        assert "exercises.check_" in cell.source, "each solution runs its self-check"
        assert cell.metadata.get("jupyter", {}).get("outputs_hidden"), (
            f"{path.name}: a solution's output (the answer) must start collapsed too"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_with_outputs(path):
    code_cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells), (
        f"{path.name}: commit it after a full run (Restart & Run All)"
    )


def test_flowers_notebook_runs_the_recipe_chosen_on_validation():
    """Notebook 04's parameters are the record of benchmarks/choose_flowers_recipe.py, which chose
    them on the validation split: changing one without re-choosing fails here."""
    import json

    root = Path(__file__).resolve().parent.parent
    record = json.loads((root / "tl_helpers" / "records" / "flowers_recipe.json").read_text())
    cells = nbformat.read(root / "notebooks" / "04_flowers_multiclass.ipynb", as_version=4).cells
    parameters = next(
        c.source for c in cells if c.cell_type == "code" and "FINE_TUNE_BLOCKS =" in c.source
    )
    namespace: dict = {}
    exec(parameters, namespace)  # the parameters cell only sets constants
    tuned = record["fine_tuning_at_chosen_size"]
    assert (namespace["IMAGE_SIZE"], namespace["FINE_TUNE_BLOCKS"], namespace["FINE_TUNE_LR"]) == (
        tuned["image_size"],
        tuned["blocks"],
        tuned["learning_rate"],
    )
    assert record["chosen"]["image_size"] == tuned["image_size"]
    best = max(c["validation_accuracy"] for c in record["candidates"])
    assert (
        record["chosen"]["validation_accuracy"] >= best - 1 / record["validation_images"] - 1e-9
    ), "chosen within one photo of the best"
    assert all(key not in json.dumps(record) for key in ("test_accuracy", "test")), (
        "the record never mentions the test split"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_the_one_namespace_and_asks_for_its_settings(path):
    """``import tl_helpers as tl`` then ``tl.setup_notebook()`` before any other helper is used;
    no helper imported by name from the package's inner modules, except the few low-level
    functions notebook 01 opens up on purpose. The hosted set-up cell (tl_helpers.hosted) is not
    counted: it runs before the course is installed, and imports only what it needs."""
    code = [
        c.source
        for c in nbformat.read(path, as_version=4).cells
        if c.cell_type == "code" and "hosted-setup" not in c.metadata.get("tags", [])
    ]
    first_use = next(i for i, source in enumerate(code) if "tl." in source)
    assert (
        "import tl_helpers as tl" in code[first_use] and "tl.setup_notebook()" in code[first_use]
    ), (
        f"{path.name}: the cell that first uses the helpers must import them as tl and call tl.setup_notebook()"
    )
    allowed = {"stable_order", "weights_source", "efficientnet_lite0"}
    for source in code:
        for line in source.splitlines():
            if line.strip().startswith("from tl_helpers"):
                names = {name.strip() for name in line.split(" import ", 1)[1].split(",")}
                assert names <= allowed, f"{path.name}: use tl.<name> instead of {line.strip()}"


def _numbered(text: str) -> list[str]:
    return re.findall(r"^(\d+)\. ", text, flags=re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_ends_with_a_questionnaire_and_hidden_answers(path):
    cells = nbformat.read(path, as_version=4).cells
    at = [
        i
        for i, c in enumerate(cells)
        if c.cell_type == "markdown" and "## Questionnaire" in c.source
    ]
    assert len(at) == 1, f"{path.name}: one questionnaire"
    questions = _numbered(cells[at[0]].source.split("## Questionnaire", 1)[1])
    assert 6 <= len(questions) <= 10, f"{path.name}: 6-10 questions, found {len(questions)}"
    assert questions == [str(n) for n in range(1, len(questions) + 1)]
    why = [
        q
        for q in cells[at[0]].source.split("## Questionnaire", 1)[1].splitlines()
        if re.match(r"\d+\. ", q)
    ]
    assert all(q.rstrip().endswith("?") for q in why), f"{path.name}: every item is a question"
    answers = cells[at[0] + 1]
    assert answers.cell_type == "markdown" and "solution" in answers.metadata.get("tags", []), (
        f"{path.name}: the answers follow in a markdown cell tagged solution"
    )
    assert _numbered(answers.source) == questions, f"{path.name}: one answer per question"
    exercises = next(
        i for i, c in enumerate(cells) if c.cell_type == "markdown" and "## Exercises" in c.source
    )
    assert at[0] < exercises, "the questionnaire comes before the exercises"


def _has_figure(cell) -> bool:
    return cell.cell_type == "code" and any(
        "image/png" in output.get("data", {}) or "image/jpeg" in output.get("data", {})
        for output in cell.get("outputs", [])
    )


def test_every_pitfall_has_a_figure_and_the_summary_shows_all_of_them():
    cells = nbformat.read(NOTEBOOKS[0].parent / "05_pitfalls.ipynb", as_version=4).cells
    anchors = [
        (i, m.group(1))
        for i, c in enumerate(cells)
        if (m := re.search(r'<a id="(\w+)"></a>', c.source))
    ]
    sections = [name for _, name in anchors]
    assert sections == [str(n) for n in range(1, 14)] + ["summary"], sections
    bounds = [i for i, _ in anchors] + [
        next(i for i, c in enumerate(cells) if "## Exercises" in c.source)
    ]
    for (start, name), end in zip(anchors, bounds[1:]):
        figures = [c for c in cells[start:end] if _has_figure(c)]
        assert figures, f"section {name} of notebook 05 has no figure"
        calls = [c.source for c in figures]
        assert all("tl.plots." in source for source in calls), "figures are built with tl.plots"
    summary_cells = cells[anchors[-1][0] : bounds[-1]]
    assert any("pitfall_overview" in c.source and _has_figure(c) for c in summary_cells)


# The figures each notebook teaches with (a solution's figure included): losing one fails here.
FIGURES = {"01": 4, "02": 5, "03": 2, "04": 4, "05": 14, "06": 2, "07": 1, "08": 2}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shows_its_figures(path):
    cells = nbformat.read(path, as_version=4).cells
    count = sum(_has_figure(c) for c in cells)
    assert count >= FIGURES[path.name[:2]], (
        f"{path.name}: {count} figures, expected {FIGURES[path.name[:2]]}"
    )


def test_the_notebooks_are_all_found():
    """A moved or renamed folder must fail here, not leave every test above with no notebook."""
    assert len(NOTEBOOKS) == 8, [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_a_projector(path):
    """No code line over 100 characters: readable on a projector and in a narrow browser tab."""
    long = [
        f"cell {index}: {line[:60]}..."
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells)
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > 100
    ]
    assert not long, f"{path.name}: {len(long)} code lines over 100 characters: {long[:3]}"


def _names(source: str) -> tuple[set[str], set[str]]:
    """Names a cell defines and names it reads (IPython magics read as ``pass``)."""
    import ast

    code = "\n".join(
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith("%") else line
        for line in source.splitlines()
    )
    defined, used = set(), set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    return defined, used


def test_each_pitfall_section_runs_after_the_setup_cells_alone():
    """A teacher can run notebook 05's setup cells, then any one numbered section: no section
    reads a name that only another numbered section defines."""
    import builtins

    path = next(p for p in NOTEBOOKS if p.name.startswith("05_"))
    sections: dict[str, tuple[set[str], set[str]]] = {}
    current = "setup"
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            heading = re.search(r"^## (\d+) · ", cell.source, re.M)
            if heading or re.search(r"^## ", cell.source, re.M):
                current = heading.group(1) if heading else "setup"
            continue
        if "solution" in cell.metadata.get("tags", []):
            continue
        defined, used = sections.setdefault(current, (set(), set()))
        cell_defined, cell_used = _names(cell.source)
        defined.update(cell_defined)
        used.update(cell_used)
    numbered = [name for name in sections if name != "setup"]
    assert len(numbered) == 13, numbered
    for name in numbered:
        defined, used = sections[name]
        borrowed = {
            (other, variable)
            for variable in used - defined - sections["setup"][0]
            if not hasattr(builtins, variable)
            for other in numbered
            if other != name and variable in sections[other][0]
        }
        assert not borrowed, f"section {name} reads names of other sections: {sorted(borrowed)}"
