"""tf.data pipelines over generated images."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_image
from tl_helpers.data import dataset_splits, fetch, split_class_folders
from tl_helpers.data.decode import decode_and_resize
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split


def test_batches_have_the_requested_shape_dtype_and_labels(image_folder):
    splits = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    dataset = make_dataset(splits.train, image_size=(32, 48), batch_size=8)
    images, labels = [], []
    for batch_images, batch_labels in dataset:
        assert batch_images.shape[1:] == (32, 48, 3)
        assert batch_images.dtype.name == "float32"
        images.append(batch_images.numpy())
        labels.extend(batch_labels.numpy().tolist())
    assert labels == list(splits.train.labels), "unshuffled pipelines keep the split's order"
    pixels = np.concatenate(images)
    assert pixels.min() >= 0 and pixels.max() <= 255 and pixels.max() > 200, (
        "raw 0-255 range, no scaling"
    )


def test_shuffle_changes_order_each_epoch_but_not_membership(image_folder):
    splits = split_class_folders(image_folder, ["ants", "bees", "wasps"])
    dataset = make_dataset(splits.train, image_size=(8, 8), batch_size=4, shuffle=True, seed=1)
    epochs = [np.concatenate([y.numpy() for _, y in dataset]) for _ in range(3)]
    assert any(not np.array_equal(epochs[0], other) for other in epochs[1:])
    for epoch in epochs:
        assert sorted(epoch.tolist()) == sorted(splits.train.labels)


@pytest.mark.parametrize(
    "mode, fmt", [("L", "PNG"), ("RGBA", "PNG"), ("RGB", "BMP"), ("RGB", "GIF")]
)
def test_any_common_image_becomes_three_channels(tmp_path, mode, fmt):
    path = write_image(tmp_path / f"image.{fmt.lower()}", size=(20, 10), mode=mode, fmt=fmt)
    image = decode_and_resize(str(path), (16, 16))
    assert tuple(image.shape) == (16, 16, 3)
    assert image.dtype.name == "uint8"


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(Split((), ()), batch_size=0)


def test_pipelines_of_real_flowers_keep_the_splits_order(mirror):
    splits = dataset_splits("flowers", fetch("flowers", mirror=str(mirror), verbose=False))
    assert splits.class_names == ("daisy", "dandelion", "roses", "sunflowers", "tulips")
    images, labels = next(iter(make_dataset(splits.test, image_size=(64, 64), batch_size=50)))
    assert images.shape == (50, 64, 64, 3)
    assert labels.numpy().tolist() == list(splits.test.labels[:50])
    validation = make_dataset(splits.validation, image_size=(64, 64), batch_size=50)
    assert sum(1 for _ in validation.unbatch()) == len(splits.validation) == 300


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_exactly_like_pil(tmp_path, orientation):
    from PIL import Image, ImageOps

    from tl_helpers.data.decode import exif_orientation, load_image

    pixels = np.random.default_rng(orientation).integers(
        0, 256, (4, 6, 3), dtype=np.uint8
    )  # not square, not symmetric
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"phone_{orientation}.png"
    Image.fromarray(pixels).save(path, exif=exif)
    assert exif_orientation(path) == orientation
    with Image.open(path) as image:
        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    decoded = decode_and_resize(str(path), upright.shape[:2], exif_orientation(path)).numpy()
    np.testing.assert_array_equal(decoded, upright)
    # Training (the pipeline) and prediction (load_image) now see the same upright photo.
    batch, _ = next(
        iter(make_dataset(Split((path,), (0,)), image_size=upright.shape[:2], batch_size=1))
    )
    np.testing.assert_array_equal(batch[0].numpy(), load_image(path, upright.shape[:2]))


def test_files_without_a_readable_orientation_count_as_upright(tmp_path):
    from tl_helpers.data.decode import exif_orientation

    plain = write_image(tmp_path / "plain.png")
    (tmp_path / "notes.txt").write_text("hello")
    assert exif_orientation(plain) == 1 and exif_orientation(tmp_path / "notes.txt") == 1
