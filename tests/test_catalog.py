"""The dataset catalog and its per-file manifest."""

from __future__ import annotations

import pytest

from tl_helpers.data import dataset_names, get_spec, load_catalog
from tl_helpers.data.verify import read_manifest
from tl_helpers.errors import UnknownNameError


def test_catalog_lists_both_course_datasets_with_sources_and_counts():
    assert dataset_names() == ["cats_vs_dogs", "flowers"]
    cats = get_spec("cats_vs_dogs")
    assert cats.url == "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
    assert cats.expected_counts == {
        "train/cats": 1000,
        "train/dogs": 1000,
        "validation/cats": 500,
        "validation/dogs": 500,
    }
    assert cats.archive_sha256 is None, "no checksum is published for this archive"
    flowers = get_spec("flowers")
    assert flowers.archive_bytes == 228_813_984
    assert (
        flowers.archive_sha256 == "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c"
    )
    assert flowers.expected_counts == {
        "daisy": 633,
        "dandelion": 898,
        "roses": 641,
        "sunflowers": 699,
        "tulips": 799,
    }
    assert flowers.expected_total == 3670


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match="valid names are: cats_vs_dogs, flowers"):
        get_spec("dogs_vs_cats")


def test_cats_manifest_covers_every_catalogued_file():
    spec = get_spec("cats_vs_dogs")
    manifest = read_manifest(spec.file_manifest)
    assert len(manifest) == spec.expected_total
    for class_dir, count in spec.expected_counts.items():
        assert sum(1 for path in manifest if path.startswith(class_dir + "/")) == count
    assert all(len(digest) == 64 for digest in manifest.values())


def test_catalog_class_names_match_the_count_folders():
    for spec in load_catalog().values():
        assert {key.split("/")[-1] for key in spec.expected_counts} == set(spec.class_names)


def test_display_path_keeps_local_paths_out_of_printed_output(tmp_path, monkeypatch):
    from tl_helpers import config

    assert config.display_path(config.PROJECT_ROOT / "datasets" / "data") == "datasets/data"
    # A folder beside the project (not created, so no link can redirect it) is shown relative to the project.
    assert (
        config.display_path(config.PROJECT_ROOT.parent / "no_such_sibling" / "mirror")
        == "../no_such_sibling/mirror"
    )
    assert config.display_path(tmp_path / "x", start=tmp_path) == "x"
    monkeypatch.setenv("HOME", str(tmp_path))
    if not tmp_path.resolve().is_relative_to(
        config.PROJECT_ROOT.parent.parent
    ):  # far from the project: the home rule
        assert config.display_path(tmp_path / "photos" / "a.jpg") == "~/photos/a.jpg"
    assert config.display_path(None) == "not set"
