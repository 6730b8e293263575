"""Your own images: a folder of ``class_name/image`` files, checked and split like the course data.

Two layouts are accepted:
- ``root/<class>/<image>``: validation (and test, if asked) are carved deterministically by file name;
- ``root/train/<class>/...`` with optional ``root/validation/...`` and ``root/test/...``: used as
  given, and validation is carved from train when it is missing.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tl_helpers.data.images import has_images, image_problem, is_image_name, list_images
from tl_helpers.data.splits import (
    DatasetSplits,
    Split,
    split_class_folders,
    split_counts,
    stable_order,
)
from tl_helpers.errors import CourseError, CourseWarning


def folder_classes(root: Path) -> list[str]:
    """Class names of ``root`` (its sub-folders that hold images), sorted like Keras sorts them."""
    root = Path(root)
    if not root.is_dir():
        raise CourseError(
            f"no folder at {root}: give a folder that holds one sub-folder of images per class"
        )
    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    classes, empty = [], []
    for folder in subfolders:
        (classes if has_images(folder) else empty).append(folder.name)
    if empty:
        warnings.warn(
            f"{root}: skipped sub-folder(s) without images: {', '.join(empty)}",
            CourseWarning,
            stacklevel=2,
        )
    if not classes:
        loose = [p.name for p in root.iterdir() if p.is_file() and is_image_name(p)]
        hint = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise CourseError(
            f"{root} has no class folders{hint}: put the images of each class in their own sub-folder, "
            "e.g. photos/cats/*.jpg and photos/dogs/*.jpg"
        )
    if len(classes) == 1:
        raise CourseError(
            f"{root} has only one class ({classes[0]}): a classifier needs at least two class folders"
        )
    return classes


def _split_of(root: Path, class_names: list[str]) -> Split:
    files, labels = [], []
    for label, name in enumerate(class_names):
        folder = root / name
        found = list_images(folder) if folder.is_dir() else []
        files += found
        labels += [label] * len(found)
    return Split(tuple(files), tuple(labels))


def drop_unreadable(splits: DatasetSplits) -> DatasetSplits:
    """The same splits without files that cannot be decoded, with a warning that names each one.

    A single truncated JPEG would otherwise stop training halfway with an error from deep inside
    TensorFlow. Decoding is done once, at reduced scale, in parallel.
    """
    everything = [path for name in ("train", "validation", "test") for path in splits[name].files]
    with ThreadPoolExecutor(min(8, (os.cpu_count() or 1) * 2)) as pool:
        problems = dict(zip(everything, pool.map(image_problem, everything)))
    broken = {path: problem for path, problem in problems.items() if problem}
    if not broken:
        return splits
    listing = "; ".join(f"{path} ({problem})" for path, problem in list(broken.items())[:10])
    warnings.warn(
        f"skipped {len(broken)} file(s) that cannot be read as images: {listing}"
        + (" ..." if len(broken) > 10 else ""),
        CourseWarning,
        stacklevel=2,
    )

    return splits.each(lambda split: split.where(lambda path, _label: path not in broken))


def folder_splits(
    root: Path, validation_fraction: float = 0.15, test_fraction: float = 0.0
) -> DatasetSplits:
    """Train / validation / test splits of a user folder (see the module docstring for layouts),
    without files that cannot be decoded (skipped with a warning that names them)."""
    return drop_unreadable(_folder_splits(Path(root), validation_fraction, test_fraction))


def _folder_splits(root: Path, validation_fraction: float, test_fraction: float) -> DatasetSplits:
    if (root / "train").is_dir():
        class_names = folder_classes(root / "train")
        if (root / "validation").is_dir():
            train, validation = (
                _split_of(root / "train", class_names),
                _split_of(root / "validation", class_names),
            )
        else:
            carved = split_class_folders(
                root / "train", class_names, (1 - validation_fraction, validation_fraction, 0.0)
            )
            train, validation = carved.train, carved.validation
        test = _split_of(root / "test", class_names) if (root / "test").is_dir() else Split((), ())
        return DatasetSplits(root.name, root, tuple(class_names), train, validation, test)
    class_names = folder_classes(root)
    fractions = (1 - validation_fraction - test_fraction, validation_fraction, test_fraction)
    return split_class_folders(root, class_names, fractions, root.name)


def all_images(root: Path, class_names: list[str] | None = None) -> tuple[list[str], Split]:
    """Every readable image of a ``root/<class>/<image>`` folder as one split (for evaluating a saved model)."""
    class_names = class_names or folder_classes(root)
    split = _split_of(Path(root), class_names)
    checked = drop_unreadable(
        DatasetSplits(
            Path(root).name, Path(root), tuple(class_names), split, Split((), ()), Split((), ())
        )
    )
    return class_names, checked.train


__all__ = [
    "all_images",
    "drop_unreadable",
    "folder_classes",
    "folder_splits",
    "split_counts",
    "stable_order",
]
