"""Deterministic train / validation / test splits, decided by file name.

A split must be the same on every machine and every run, and no file may be in two splits.
Shuffling a dataset and then calling ``take``/``skip`` gives neither (the order changes each
epoch unless a seed pins it, and a subset of the files changes every assignment). Here each
file's place comes from a hash of its name, so it never depends on listing order, on a random
seed or on the machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tl_helpers.data.catalog import DatasetSpec, get_spec
from tl_helpers.data.images import list_images

__all__ = [
    "SALT",
    "SPLIT_NAMES",
    "DatasetSplits",
    "Split",
    "dataset_splits",
    "split_class_folders",
    "split_counts",
    "split_presplit",
    "stable_order",
]

SPLIT_NAMES = ("train", "validation", "test")
SALT = "tl-course-split-v1"  # changing it reshuffles every split: only ever bump the version


@dataclass(frozen=True)
class Split:
    """The files of one split and their integer labels (indices into ``class_names``)."""

    files: tuple[Path, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)

    def count_per_class(self, class_names: Sequence[str]) -> dict[str, int]:
        return {
            name: sum(1 for label in self.labels if label == index)
            for index, name in enumerate(class_names)
        }

    def where(self, keep: Callable[[Path, int], bool]) -> Split:
        """The files (and labels) for which ``keep(file, label)`` is true, in the same order."""
        kept = [(path, label) for path, label in zip(self.files, self.labels) if keep(path, label)]
        return Split(tuple(path for path, _ in kept), tuple(label for _, label in kept))


@dataclass(frozen=True)
class DatasetSplits:
    """Train, validation and test splits of one dataset."""

    name: str
    root: Path
    class_names: tuple[str, ...]
    train: Split
    validation: Split
    test: Split

    def __getitem__(self, split_name: str) -> Split:
        if split_name not in SPLIT_NAMES:
            raise KeyError(f"unknown split {split_name!r}; choose one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, split_name)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split: {class: count}}``, for tables and checks."""
        return {split: self[split].count_per_class(self.class_names) for split in SPLIT_NAMES}

    def subset(self, per_class: int) -> DatasetSplits:
        """At most ``per_class`` files of each class in every split (the first ones, in split order):
        a deterministic small version for quick checks (``TL_QUICK=1``)."""
        if per_class < 1:
            raise ValueError(f"per_class must be at least 1, got {per_class}")

        def take(split: Split) -> Split:
            seen: dict[int, int] = {}

            def first_ones(_path: Path, label: int) -> bool:
                seen[label] = seen.get(label, 0) + 1
                return seen[label] <= per_class

            return split.where(first_ones)

        return self.each(take)

    def each(self, change: Callable[[Split], Split]) -> DatasetSplits:
        """The same dataset with ``change`` applied to each of its three splits."""
        return replace(
            self,
            train=change(self.train),
            validation=change(self.validation),
            test=change(self.test),
        )


def stable_order(paths: Sequence[Path]) -> list[Path]:
    """``paths`` sorted by a salted sha256 of the file name: a fixed pseudo-random order."""
    return sorted(
        paths, key=lambda p: (hashlib.sha256(f"{SALT}:{p.name}".encode()).hexdigest(), p.name)
    )


def split_counts(n: int, fractions: Sequence[float]) -> tuple[int, int, int]:
    """How many of ``n`` files go to train, validation and test for the given fractions.

    With three or more files every split asked for (fraction above 0) gets at least one.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            f"split fractions must be three non-negative numbers that add up to 1, got {tuple(fractions)}"
        )
    n_validation, n_test = round(n * fractions[1]), round(n * fractions[2])
    if n >= 3:
        n_validation = max(1, n_validation) if fractions[1] > 0 else 0
        n_test = max(1, n_test) if fractions[2] > 0 else 0
    return n - n_validation - n_test, n_validation, n_test


def _split(files_by_class: list[list[Path]]) -> Split:
    pairs = [(path, label) for label, paths in enumerate(files_by_class) for path in paths]
    pairs.sort(key=lambda pair: (pair[1], pair[0].name))
    return Split(tuple(p for p, _ in pairs), tuple(label for _, label in pairs))


def split_class_folders(
    root: Path,
    class_names: Sequence[str],
    fractions: Sequence[float] = (0.70, 0.15, 0.15),
    name: str = "folder",
) -> DatasetSplits:
    """Stratified split of ``root/<class>/<image>`` files: each class is divided by the fractions."""
    parts: dict[str, list[list[Path]]] = {split: [] for split in SPLIT_NAMES}
    for class_name in class_names:
        ordered = stable_order(list_images(Path(root) / class_name))
        n_train, n_validation, _ = split_counts(len(ordered), fractions)
        parts["train"].append(ordered[:n_train])
        parts["validation"].append(ordered[n_train : n_train + n_validation])
        parts["test"].append(ordered[n_train + n_validation :])
    return DatasetSplits(
        name, Path(root), tuple(class_names), *(_split(parts[s]) for s in SPLIT_NAMES)
    )


def split_presplit(
    root: Path, class_names: Sequence[str], train_dir: str, holdout_dir: str, name: str
) -> DatasetSplits:
    """Keep ``train_dir`` as the training set and halve ``holdout_dir`` (per class) into validation and test."""
    train, validation, test = [], [], []
    for class_name in class_names:
        train.append(list_images(Path(root) / train_dir / class_name))
        ordered = stable_order(list_images(Path(root) / holdout_dir / class_name))
        half = len(ordered) // 2
        validation.append(ordered[:half])
        test.append(ordered[half:])
    return DatasetSplits(
        name, Path(root), tuple(class_names), _split(train), _split(validation), _split(test)
    )


def dataset_splits(name: str, root: Path) -> DatasetSplits:
    """The course's splits of catalogued dataset ``name`` found at ``root`` (see ``fetch``)."""
    spec: DatasetSpec = get_spec(name)
    rule = spec.split
    if rule["kind"] == "presplit":
        return split_presplit(root, spec.class_names, rule["train"], rule["holdout"], spec.name)
    return split_class_folders(root, spec.class_names, rule["fractions"], spec.name)
