"""Messy folders and wrong arguments, each built on the fly: every case ends in a clear message
(what, which file, what to do) or in a visible warning and a correct result, never in a
TensorFlow stack trace or silent loss. The README's "What happens when..." table lists them;
folder-layout cases (missing folder, one class, loose images, empty class folder) live in
test_folders, download and archive cases in test_fetch, model files in test_models, weights
pickles in test_torch_pickle, split fractions in test_splits and test_training_folder."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from conftest import write_image
from tl_helpers.data.decode import load_image
from tl_helpers.data.folders import folder_splits
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.models import build_classifier, probabilities


@pytest.fixture
def photos(tmp_path):
    """A good folder: two classes, five photos each."""
    root = tmp_path / "photos"
    for label, name in enumerate(["cats", "dogs"]):
        for index in range(5):
            write_image(root / name / f"{name}_{index}.png", seed=10 * label + index)
    return root


def all_files(splits):
    return {path.name for part in ("train", "validation", "test") for path in splits[part].files}


def first_batch(path, size=(16, 16)):
    """What training sees of one file: the tf.data pipeline's decoded, resized image."""
    images, _ = next(iter(make_dataset(Split((path,), (0,)), image_size=size, batch_size=1)))
    return images[0].numpy()


# ---- files that cannot be used: skipped with a warning naming each ----------------------------


@pytest.mark.parametrize(
    "name, content",
    [
        ("cut_off.jpg", "truncated"),
        ("garbage.jpg", b"this is not a jpeg at all" * 10),
        ("empty.png", b""),
    ],
)
def test_undecodable_files_are_skipped_by_name(photos, name, content):
    path = photos / "cats" / name
    if content == "truncated":
        write_image(path, size=(200, 150), fmt="JPEG")
        path.write_bytes(path.read_bytes()[:600])
    else:
        path.write_bytes(content)
    with pytest.warns(UserWarning, match=f"cannot be read as images: .*{name}"):
        splits = folder_splits(photos)
    assert name not in all_files(splits) and len(all_files(splits)) == 10


@pytest.mark.parametrize("name", ["notes.txt", ".DS_Store", "Thumbs.db"])
def test_files_that_are_not_images_are_skipped_by_name(photos, name):
    (photos / "dogs" / name).write_bytes(b"\x00\x01 not an image")
    with pytest.warns(UserWarning, match=f"not images: {name}"):
        splits = folder_splits(photos)
    assert len(all_files(splits)) == 10


# ---- unusual but valid images: used, decoded the same way for training and prediction --------


@pytest.mark.parametrize("mode, fmt", [("RGBA", "PNG"), ("L", "PNG"), ("CMYK", "JPEG")])
def test_alpha_grayscale_and_cmyk_become_rgb(tmp_path, mode, fmt):
    path = write_image(tmp_path / f"odd.{fmt.lower()}", size=(16, 16), mode=mode, fmt=fmt)
    seen_by_training = first_batch(path)
    seen_by_prediction = load_image(path, (16, 16))
    assert seen_by_training.shape == seen_by_prediction.shape == (16, 16, 3)
    difference = np.abs(seen_by_training - seen_by_prediction)
    if fmt == "JPEG":  # TensorFlow's and Pillow's JPEG decoders round differently, by a few levels
        assert difference.mean() < 1.5 and difference.max() <= 16
    else:
        assert difference.max() == 0


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    path = tmp_path / "scan16.png"
    Image.fromarray(ramp).save(path)
    seen_by_training, seen_by_prediction = first_batch(path), load_image(path, (16, 16))
    np.testing.assert_array_equal(seen_by_training, seen_by_prediction)
    assert 100 < seen_by_training[8, 8, 0] < 160, "the middle of the ramp must stay mid-grey"


@pytest.mark.slow
def test_huge_image_is_used_with_a_warning(tmp_path):
    path = tmp_path / "panorama.jpg"
    Image.new("RGB", (10000, 10000), (10, 200, 30)).save(path, quality=50)
    with pytest.warns(UserWarning, match="10000x10000 pixels .* resize such photos"):
        image = load_image(path, (8, 8))
    assert np.abs(image[4, 4] - [10, 200, 30]).max() <= 3
    assert np.abs(first_batch(path, (8, 8))[4, 4] - [10, 200, 30]).max() <= 3


def test_tiny_image_is_scaled_up(tmp_path):
    path = tmp_path / "icon.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(path)
    assert first_batch(path, (224, 224)).shape == (224, 224, 3)
    np.testing.assert_array_equal(first_batch(path, (224, 224))[100, 100], [1, 2, 3])


def test_exif_rotated_photo_is_turned_upright_for_training_too(tmp_path):
    pixels = np.zeros((30, 60, 3), np.uint8)
    pixels[:, :30] = (250, 0, 0)  # left half red, right half blue, as stored
    pixels[:, 30:] = (0, 0, 250)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    path = tmp_path / "portrait.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    upright = first_batch(path, (60, 30))
    assert upright[5, 15, 0] > 200 and upright[-5, 15, 2] > 200, (
        "red must end up on top, blue at the bottom"
    )
    assert (
        np.abs(upright - load_image(path, (60, 30))).mean() < 1.5
    )  # two JPEG decoders, same orientation


def test_awkward_names_and_upper_case_extensions_work(photos):
    for name in ["holiday photo 1.JPG", "café – été.png", "Katze_Ü.PNG", "DOG.JPEG"]:
        write_image(photos / "cats" / name, fmt="JPEG" if "JP" in name else "PNG")
    splits = folder_splits(photos)
    assert {"holiday photo 1.JPG", "café – été.png", "Katze_Ü.PNG", "DOG.JPEG"} <= all_files(splits)
    every = [path for part in ("train", "validation") for path in splits[part].files]
    batches = make_dataset(
        Split(tuple(every), tuple([0] * len(every))), image_size=(8, 8), batch_size=64
    )
    assert sum(int(images.shape[0]) for images, _ in batches) == 14


def test_nested_sub_folders_belong_to_their_class(photos):
    write_image(photos / "dogs" / "2019" / "summer" / "beach.png")
    splits = folder_splits(photos)
    nested = [
        (f, y)
        for part in ("train", "validation")
        for f, y in zip(splits[part].files, splits[part].labels)
        if f.name == "beach.png"
    ]
    assert len(nested) == 1 and splits.class_names[nested[0][1]] == "dogs"


def test_links_outside_the_folder_are_skipped_and_links_inside_kept(photos, tmp_path):
    secret = write_image(tmp_path / "elsewhere" / "private.png")
    os.symlink(secret, photos / "cats" / "looks_innocent.png")
    os.symlink(photos / "dogs" / "dogs_0.png", photos / "dogs" / "same_dog_again.png")
    os.symlink(tmp_path / "elsewhere", photos / "dogs" / "linked_folder")
    with pytest.warns(UserWarning) as caught:
        splits = folder_splits(photos)
    messages = " | ".join(str(warning.message) for warning in caught)
    assert "link(s) to files outside" in messages and "looks_innocent.png" in messages
    assert "did not follow 1 link(s) to folders: linked_folder" in messages
    names = all_files(splits)
    assert (
        "looks_innocent.png" not in names
        and "same_dog_again.png" in names
        and "private.png" not in names
    )


# ---- arguments -------------------------------------------------------------------------------


def test_batch_larger_than_the_data_gives_one_smaller_batch(photos):
    splits = folder_splits(photos)
    batches = list(make_dataset(splits.train, image_size=(8, 8), batch_size=1000))
    assert len(batches) == 1 and int(batches[0][0].shape[0]) == len(splits.train)


def test_images_of_the_wrong_size_are_refused_with_the_fix(tmp_path):
    model = build_classifier("efficientnet_lite0", 2, image_size=32, weights=None)
    with pytest.raises(
        CourseError, match=r"takes batches of \(32, 32, 3\).*load_image\(path, \(32, 32\)\)"
    ):
        probabilities(model, np.zeros((1, 64, 48, 3)))
    with pytest.raises(CourseError, match=r"batch axis: image\[None\]"):
        probabilities(model, np.zeros((32, 32, 3)))
    assert probabilities(model, np.zeros((2, 32, 32, 3))).shape == (2, 2)


def test_a_photo_only_pillow_can_read_is_refused_with_the_fix(tmp_path):
    # A TIFF saved under a .png name: Pillow opens it, TensorFlow's decoder (the course's one image path) cannot.
    path = tmp_path / "scan.png"
    Image.fromarray(np.full((20, 30, 3), 120, np.uint8)).save(path, format="TIFF")
    with pytest.raises(
        ValueError,
        match=r"scan\.png: TensorFlow cannot decode it .*save it again as an ordinary RGB JPEG or PNG",
    ):
        load_image(path, (16, 16))
