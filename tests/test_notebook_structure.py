"""Every course notebook opens with goals, prerequisites and a run time, and has checked exercises."""

from __future__ import annotations

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
    record = json.loads((root / "benchmarks" / "results" / "flowers_recipe.json").read_text())
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
    functions notebook 01 opens up on purpose."""
    code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
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
