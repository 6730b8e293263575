"""User folders: both layouts, deterministic validation, and clear errors for wrong layouts."""

from __future__ import annotations

import shutil

import pytest

from conftest import write_image
from tl_helpers.data.folders import all_images, folder_classes, folder_splits
from tl_helpers.errors import CourseError


def test_class_folders_get_a_deterministic_validation_carve(image_folder):
    splits = folder_splits(image_folder)
    assert splits.class_names == ("ants", "bees", "wasps")
    assert splits.counts()["validation"] == {"ants": 3, "bees": 3, "wasps": 3}
    assert len(splits.test) == 0
    assert folder_splits(image_folder) == splits


def test_train_and_validation_folders_are_used_as_given(image_folder, tmp_path):
    root = tmp_path / "presplit"
    shutil.copytree(image_folder, root / "train")
    shutil.copytree(image_folder / "ants", root / "validation" / "ants")
    shutil.copytree(image_folder / "bees", root / "validation" / "bees")
    splits = folder_splits(root)
    assert len(splits.train) == 60 and splits.counts()["validation"] == {
        "ants": 20,
        "bees": 20,
        "wasps": 0,
    }


def test_validation_is_carved_from_train_when_missing(image_folder, tmp_path):
    root = tmp_path / "only_train"
    shutil.copytree(image_folder, root / "train")
    splits = folder_splits(root, validation_fraction=0.25)
    assert splits.counts()["validation"] == {"ants": 5, "bees": 5, "wasps": 5}
    assert not set(splits.train.files) & set(splits.validation.files)


def test_missing_folder_single_class_and_loose_images_are_explained(tmp_path):
    with pytest.raises(CourseError, match="no folder at"):
        folder_classes(tmp_path / "nowhere")
    write_image(tmp_path / "loose" / "a.jpg")
    with pytest.raises(CourseError, match=r"no class folders \(1 images lie directly in it\)"):
        folder_classes(tmp_path / "loose")
    write_image(tmp_path / "single" / "cats" / "a.jpg")
    with pytest.raises(CourseError, match="only one class"):
        folder_classes(tmp_path / "single")


def test_empty_class_folder_is_skipped_with_a_warning(image_folder):
    (image_folder / "empty_class").mkdir()
    with pytest.warns(UserWarning, match="empty_class"):
        assert folder_classes(image_folder) == ["ants", "bees", "wasps"]


def test_all_images_for_evaluation(image_folder):
    names, split = all_images(image_folder)
    assert names == ["ants", "bees", "wasps"] and len(split) == 60


def test_unreadable_files_are_skipped_with_their_names(image_folder):
    (image_folder / "ants" / "ants_000.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (image_folder / "bees" / "empty.jpg").write_bytes(b"")
    with pytest.warns(
        UserWarning,
        match=r"skipped 2 file\(s\).*ants_000\.jpg.*empty\.jpg|skipped 2 file\(s\).*empty\.jpg.*ants_000\.jpg",
    ):
        splits = folder_splits(image_folder)
    everything = [p.name for s in ("train", "validation", "test") for p in splits[s].files]
    assert "ants_000.jpg" not in everything and "empty.jpg" not in everything
    assert len(everything) == 59, "the 59 good images are all kept"
    with pytest.warns(UserWarning, match="skipped 2"):
        _, split = all_images(image_folder)
    assert len(split) == 59
