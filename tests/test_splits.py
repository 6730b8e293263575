"""Splits are deterministic, disjoint, stratified and independent of listing order."""

from __future__ import annotations

import random

import pytest

from tl_helpers.data import dataset_splits, fetch, split_class_folders, split_presplit
from tl_helpers.data.splits import SPLIT_NAMES, split_counts, stable_order


def _all_files(splits):
    return [path for split in SPLIT_NAMES for path in splits[split].files]


def test_stratified_split_is_disjoint_complete_and_proportional(image_folder):
    splits = split_class_folders(image_folder, ["ants", "bees", "wasps"], (0.7, 0.15, 0.15))
    files = _all_files(splits)
    assert len(files) == len(set(files)) == 60
    for split, expected in zip(SPLIT_NAMES, (14, 3, 3)):
        assert splits.counts()[split] == {"ants": expected, "bees": expected, "wasps": expected}
    for split in SPLIT_NAMES:
        for path, label in zip(splits[split].files, splits[split].labels):
            assert path.parent.name == splits.class_names[label]


def test_split_is_the_same_every_time(image_folder):
    first = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    second = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    assert first == second


def test_split_is_the_same_in_another_place(image_folder, tmp_path):
    """Another machine has the folder elsewhere and lists it in another order: same split by name."""
    import shutil

    copy = shutil.copytree(image_folder, tmp_path / "elsewhere" / "copy")
    here = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    there = split_class_folders(copy, ["ants", "bees", "wasps"])
    for split in SPLIT_NAMES:
        assert [p.name for p in here[split].files] == [p.name for p in there[split].files]


def test_order_does_not_depend_on_listing_order(image_folder):
    paths = sorted((image_folder / "ants").iterdir())
    shuffled = paths[:]
    random.Random(3).shuffle(shuffled)
    assert stable_order(paths) == stable_order(shuffled)
    assert stable_order(paths) != paths, "a name hash, not alphabetical order"


def test_presplit_keeps_train_and_halves_holdout(tmp_path):
    from conftest import write_image

    for folder, count in [("train", 6), ("validation", 4)]:
        for class_name in ("cats", "dogs"):
            for index in range(count):
                write_image(
                    tmp_path / folder / class_name / f"{class_name}.{folder}.{index}.jpg",
                    seed=index,
                )
    splits = split_presplit(tmp_path, ["cats", "dogs"], "train", "validation", "pets")
    assert splits.counts() == {
        "train": {"cats": 6, "dogs": 6},
        "validation": {"cats": 2, "dogs": 2},
        "test": {"cats": 2, "dogs": 2},
    }
    assert not set(splits.validation.files) & set(splits.test.files)
    assert all(p.parts[-3] == "train" for p in splits.train.files)


@pytest.mark.parametrize(
    "n, expected", [(100, (70, 15, 15)), (3, (1, 1, 1)), (1, (1, 0, 0)), (0, (0, 0, 0))]
)
def test_split_counts(n, expected):
    assert split_counts(n, (0.7, 0.15, 0.15)) == expected


def test_a_zero_fraction_gives_an_empty_split():
    assert split_counts(10, (0.8, 0.2, 0.0)) == (8, 2, 0)
    assert split_counts(3, (0.85, 0.15, 0.0)) == (2, 1, 0)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_impossible_fractions_are_refused(fractions):
    with pytest.raises(ValueError, match="fractions"):
        split_counts(10, fractions)


def test_real_cats_vs_dogs_splits(mirror):
    splits = dataset_splits("cats_vs_dogs", fetch("cats_vs_dogs", mirror=mirror, verbose=False))
    assert splits.counts() == {
        "train": {"cats": 1000, "dogs": 1000},
        "validation": {"cats": 250, "dogs": 250},
        "test": {"cats": 250, "dogs": 250},
    }
    files = _all_files(splits)
    assert len(set(files)) == len(files) == 3000


def test_real_flowers_splits_are_stratified_and_disjoint(mirror):
    splits = dataset_splits("flowers", fetch("flowers", mirror=mirror, verbose=False))
    files = _all_files(splits)
    assert len(set(files)) == len(files) == 2002
    counts = splits.counts()
    for class_name in splits.class_names:
        total = sum(counts[split][class_name] for split in SPLIT_NAMES)
        assert abs(counts["train"][class_name] / total - 0.70) < 0.01
        assert abs(counts["test"][class_name] / total - 0.15) < 0.01


def test_subset_keeps_the_first_files_of_each_class(image_folder):
    splits = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    small = splits.subset(2)
    assert small.counts()["train"] == {"ants": 2, "bees": 2, "wasps": 2}
    assert small.counts()["validation"] == {"ants": 2, "bees": 2, "wasps": 2}
    assert small.train.files[:2] == splits.train.files[:2]
    assert set(small.test.files) <= set(splits.test.files)
    with pytest.raises(ValueError):
        splits.subset(0)


def test_where_keeps_the_chosen_files_in_order_and_each_changes_every_split(image_folder):
    splits = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    odd = splits.train.where(lambda _path, label: label == 1)
    assert odd.files == tuple(f for f, y in zip(splits.train.files, splits.train.labels) if y == 1)
    assert set(odd.labels) == {1} and 0 < len(odd) < len(splits.train)
    emptied = splits.each(lambda split: split.where(lambda _path, _label: False))
    assert [len(emptied[name]) for name in SPLIT_NAMES] == [0, 0, 0]
    assert (emptied.name, emptied.root, emptied.class_names) == (
        splits.name,
        splits.root,
        splits.class_names,
    )
