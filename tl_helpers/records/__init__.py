"""Measured records the notebooks and the command line show: which recipe was chosen, and why.

Each is a JSON file written by a script in ``benchmarks/`` (named in the file's ``"command"`` entry
where it has one) and shipped inside the package, so a notebook copied out of the repository, or
run on Colab, prints the same record as one in a checkout::

    tl.records.load("flowers_recipe")     # benchmarks/choose_flowers_recipe.py
    tl.records.load("backbone_choice")    # benchmarks/choose_backbone.py
    tl.records.load("distributed")        # benchmarks/distributed.py
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from tl_helpers.errors import CourseError

__all__ = ["FOLDER", "load", "names"]

FOLDER = Path(__file__).resolve().parent  # where the benchmarks write them (in a checkout)


def names() -> list[str]:
    """The records shipped with the package."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name.endswith(".json"))


def load(name: str) -> dict:
    """The record ``name`` (see ``names()``), as the benchmark wrote it."""
    if name not in names():
        raise CourseError(f"no record named {name!r}; the package ships {', '.join(names())}")
    return json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())
