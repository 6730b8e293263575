"""Faults, round three: sizes that cannot fit, full and read-only disks on every write path, and
a valid Keras model that is not an image classifier. Each ends in one clear line."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import train_quietly
from tl_helpers.cli import main
from tl_helpers.errors import CourseError
from tl_helpers.limits import (
    MIN_IMAGE_SIZE,
    check_at_least,
    check_image_size,
    check_positive,
    largest_image_size,
)
from tl_helpers.storage import StorageError, atomic_path, save_arrays

GB = 2**30


# --------------------------------------------------------------------------------------------
# Image sizes: refused before anything is allocated, with the sizes that fit
# --------------------------------------------------------------------------------------------


def test_a_size_that_cannot_fit_is_refused_with_what_fits():
    with pytest.raises(CourseError) as raised:
        check_image_size(100_000, setting="--image-size", memory=24 * GB)
    message = str(raised.value)
    largest = largest_image_size(32, 24 * GB)
    assert message.startswith("--image-size 100000 needs about ")
    assert "this machine has 24 GB of memory" in message
    assert f"sizes up to about {largest} px fit" in message
    assert 240 < largest < 100_000


def test_the_largest_size_that_fits_is_accepted_and_one_more_is_not():
    largest = largest_image_size(32, 8 * GB)
    assert largest is not None
    assert check_image_size(largest, memory=8 * GB) == (largest, largest)
    with pytest.raises(CourseError, match="needs about"):
        check_image_size(largest + 1, memory=8 * GB)
    assert largest_image_size(1, 8 * GB) > largest, "a smaller batch leaves room for larger photos"


@pytest.mark.parametrize(
    "size, message",
    [(MIN_IMAGE_SIZE - 1, "at least"), (0, "at least"), (-5, "at least"), (2.5, "whole number"),
     ((224,), "whole number"), ("224", "whole number"), (True, "whole number")],
)  # fmt: skip
def test_nonsense_sizes_are_refused(size, message):
    with pytest.raises(CourseError, match=message):
        check_image_size(size)


def test_train_refuses_a_huge_size_before_any_work(colour_folder, tmp_path, capsys):
    code = train_quietly(colour_folder, tmp_path / "m.keras", 100_000, 1)
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error
    assert error.startswith("error: --image-size 100000 needs about ") and error.count("\n") == 1
    assert not (tmp_path / "m.keras").exists()


# --------------------------------------------------------------------------------------------
# A valid .keras file that is not an image classifier
# --------------------------------------------------------------------------------------------


@pytest.fixture
def vector_model(tmp_path: Path) -> Path:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    path = tmp_path / "vectors.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_a_model_that_takes_no_images_is_named_and_refused(vector_model, image_folder, command,
                                                           tmp_path, capsys):  # fmt: skip
    photo = next(image_folder.rglob("*.jpg"))
    arguments = {
        "evaluate": [str(image_folder)],
        "predict": [str(photo)],
        "export": ["--format", "litert", "--out", str(tmp_path / "m.tflite")],
    }[command]
    code = main([command, str(vector_model), *arguments])
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error and error.count("\n") == 1
    assert f"{vector_model} is a Keras model, but not an image classifier" in error
    assert "its input is (None, 4)" in error


# --------------------------------------------------------------------------------------------
# Disks that refuse a write: a real small filesystem, and injected failures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted for this test (the tests run as root in CI); a skip that says why
    where mounting is not allowed, and the injected-failure tests below still run."""
    folder = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def _leftovers(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_a_cache_entry_on_a_full_disk_is_one_line_and_leaves_nothing(tiny_disk):
    entry = tiny_disk / "features" / "entry.npz"
    with pytest.raises(StorageError) as raised:
        save_arrays(entry, features=np.zeros((2, 2**19), np.float32))  # 4 MB
    message = str(raised.value)
    assert f"cannot write entry.npz: the folder {entry.parent} is full" in message
    assert "about 4.0 MB needed" in message and "free" in message and "\n" not in message
    assert _leftovers(tiny_disk) == []
    save_arrays(entry, features=np.zeros((2, 8), np.float32))  # a write that fits works
    assert entry.exists()


def test_converting_weights_onto_a_full_cache_names_tl_cache_dir(tiny_disk, monkeypatch):
    from tl_helpers.backbones import efficientnet_lite as lite

    monkeypatch.setenv("TL_CACHE_DIR", str(tiny_disk))
    with pytest.raises(StorageError, match="is full.*set TL_CACHE_DIR to a folder on a disk"):
        lite.imagenet_weights()
    assert _leftovers(tiny_disk) == []


def test_train_with_a_full_cache_disk_ends_in_one_line(colour_folder, tiny_disk, tmp_path,
                                                      monkeypatch, capsys):  # fmt: skip
    monkeypatch.setenv("TL_CACHE_DIR", str(tiny_disk))
    code = train_quietly(colour_folder, tmp_path / "m.keras", 64, 1)
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error and error.count("\n") == 1, error
    assert "is full" in error and "TL_CACHE_DIR" in error
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "roomy"))  # pointed elsewhere: it works
    assert train_quietly(colour_folder, tmp_path / "m.keras", 64, 1) == 0


def test_a_model_and_an_export_on_a_full_disk_leave_nothing(tiny_disk):
    from tl_helpers.deploy.export import export_classifier
    from tl_helpers.models import build_classifier, save_classifier

    model = build_classifier("efficientnet_lite0", 3, image_size=64, weights=None)
    with pytest.raises(StorageError, match="model.keras: the folder .* is full"):
        save_classifier(model, tiny_disk / "model.keras")
    with pytest.raises(StorageError, match="model.tflite: the folder .* is full"):
        export_classifier(model, tiny_disk / "model.tflite", format="litert")
    assert list(tiny_disk.iterdir()) == []


def test_a_read_only_disk_is_named_as_such(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode:  # fmt: skip
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        with pytest.raises(StorageError, match="is on a read-only disk"):
            save_arrays(folder / "entry.npz", values=np.zeros(3))
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize(
    "code, words",
    [(errno.ENOSPC, "is full"), (errno.EDQUOT, "over its disk quota"),
     (errno.EACCES, "cannot be written by this user"), (errno.EROFS, "read-only disk")],
)  # fmt: skip
def test_every_refused_write_becomes_one_line(tmp_path, code, words):
    target = tmp_path / "out" / "entry.npz"
    with pytest.raises(StorageError) as raised, atomic_path(target) as temporary:
        temporary.write_bytes(b"partial")
        raise OSError(code, os.strerror(code))
    assert words in str(raised.value) and "entry.npz" in str(raised.value)
    assert _leftovers(tmp_path) == []


def test_other_os_errors_are_not_disguised(tmp_path):
    with pytest.raises(IsADirectoryError), atomic_path(tmp_path / "x.npz"):
        raise IsADirectoryError(errno.EISDIR, "Is a directory")


@pytest.mark.parametrize("value, allowed", [(0, False), (0.5, False), (1, True), (7, True)])
def test_counts_below_their_least_are_refused_by_name(value, allowed):
    if allowed:
        check_at_least("epochs", value)
    else:
        with pytest.raises(CourseError, match=f"epochs must be at least 1, got {value}"):
            check_at_least("epochs", value)
    with pytest.raises(CourseError, match="repeats must be at least 2, got 1"):
        check_at_least("repeats", 1, least=2)


@pytest.mark.parametrize("value", [0, -3.0, float("nan")])
def test_budgets_that_are_not_positive_are_refused(value):
    with pytest.raises(
        CourseError, match=f"budget_s must be a positive number of seconds, got {value}"
    ):
        check_positive("budget_s", value, " of seconds")
    check_positive("budget_s", 0.1, " of seconds")
