"""Where things live: the project root, the data folder, the cache folder and the mirror.

Every location can be overridden with an environment variable, so a teacher can point a whole
classroom at a shared copy without editing code:

- ``TL_MIRROR``: a folder holding ``cats_and_dogs_filtered/`` and ``flower_photos/``; when set,
  datasets are taken from there instead of being downloaded.
- ``TL_DATA_DIR``: where downloaded datasets land (default ``datasets/data`` in the project).
- ``TL_CACHE_DIR``: converted weights and cached features (default ``.cache`` in the project).

It also holds the two recipes ``python -m tl_helpers train`` offers (``TRAIN_DEFAULT`` and, with
``--fast``, ``TRAIN_FAST``), as plain data so the command line can show them without TensorFlow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATASETS_DIR",
    "DEFAULT_SEED",
    "PROJECT_ROOT",
    "TRAIN_DEFAULT",
    "TRAIN_FAST",
    "TrainRecipe",
    "cache_dir",
    "data_dir",
    "display_path",
    "mirror_dir",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = (
    42  # the one seed of the course: splits' shuffling, augmentation, head initialisation
)
DATASETS_DIR = PROJECT_ROOT / "datasets"


@dataclass(frozen=True)
class TrainRecipe:
    """A recipe for ``train``: which base, at which image size, and how many of its top blocks
    to fine-tune after the head (0: feature extraction only)."""

    backbone: str
    image_size: int
    blocks: int
    fine_tune_epochs: int = 5


# Chosen on the validation photos of both course datasets by benchmarks/choose_backbone.py
# (rule and numbers: benchmarks/results/backbone_choice.json; a test keeps the two equal).
TRAIN_DEFAULT = TrainRecipe("efficientnet_lite1", 240, 0)
# The quickest recipe: Lite0 feature extraction at 224 px (``train --fast``).
TRAIN_FAST = TrainRecipe("efficientnet_lite0", 224, 0)


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder where downloaded datasets are extracted (created on demand)."""
    chosen = override or os.environ.get("TL_DATA_DIR") or DATASETS_DIR / "data"
    return Path(chosen).expanduser().resolve()


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder for derived files that are safe to delete: converted weights, cached features."""
    chosen = override or os.environ.get("TL_CACHE_DIR") or PROJECT_ROOT / ".cache"
    return Path(chosen).expanduser().resolve()


def mirror_dir(override: str | os.PathLike[str] | None = None) -> Path | None:
    """The dataset mirror: the argument if given, else ``TL_MIRROR``, else ``None``."""
    chosen = override or os.environ.get("TL_MIRROR")
    return Path(chosen).expanduser().resolve() if chosen else None


def display_path(
    path: str | os.PathLike[str] | None, start: str | os.PathLike[str] | None = None
) -> str:
    """``path`` as a learner should see it printed: relative to ``start`` (default the project)
    when it is inside or beside it (``datasets/data``, ``../shared/mirror``), ``~/...`` under the
    home folder, else as is. Printed outputs stay free of one machine's absolute paths."""
    if path is None:
        return "not set"
    resolved = Path(path).expanduser().resolve()
    relative = Path(os.path.relpath(resolved, Path(start or PROJECT_ROOT).resolve()))
    if relative.parts[:1] != ("..",) or len([part for part in relative.parts if part == ".."]) <= 1:
        return relative.as_posix()
    home = Path.home().resolve()
    if resolved.is_relative_to(home):
        return "~/" + resolved.relative_to(home).as_posix()
    return resolved.as_posix()
