"""Classroom copies of the notebooks: the same notebooks without the cells tagged ``solution``
and without outputs, so students start from a clean page (``make student``)."""

from __future__ import annotations

from pathlib import Path

import nbformat

__all__ = ["make_student_copies", "strip_solutions"]


def strip_solutions(source: Path, destination: Path) -> int:
    """Copy one notebook without its ``solution`` cells and outputs; returns how many cells were removed."""
    notebook = nbformat.read(source, as_version=4)
    kept = [
        cell
        for cell in notebook.cells
        if "solution" not in cell.get("metadata", {}).get("tags", [])
    ]
    removed = len(notebook.cells) - len(kept)
    for cell in kept:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.cells = kept
    destination.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, destination)
    return removed


def make_student_copies(notebook_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write a student copy of every numbered notebook in ``notebook_dir`` into ``out_dir``."""
    removed = {}
    for path in sorted(Path(notebook_dir).glob("[0-9]*.ipynb")):
        removed[path.name] = strip_solutions(path, Path(out_dir) / path.name)
    return removed


if __name__ == "__main__":
    import sys

    source_dir, target_dir = (
        Path(arg) for arg in (sys.argv[1:3] if len(sys.argv) >= 3 else ("notebooks", "student"))
    )
    for name, count in make_student_copies(source_dir, target_dir).items():
        print(f"{target_dir / name}: {count} solution cell(s) removed")
