"""The course's one image path: read a file, turn it upright, resize it, round it to bytes.

Training (``data.pipelines``), evaluation, prediction (``load_image``), the widgets, the plots and
the exported models' calibration photos all go through these functions, so a photo gives the same
pixels, and the same probabilities, whichever way it reaches a model. Everything that changes a
pixel lives here, next to ``PIPELINE_VERSION``, the name the feature cache records for it (the
cache key also hashes this module's source, so an edit here can never reuse stale features).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from tl_helpers.data.images import image_problem

__all__ = [
    "EXIF_ORIENTATION_TAG",
    "PIPELINE_VERSION",
    "RESIZE_ANTIALIAS",
    "apply_orientation",
    "decode_and_resize",
    "decode_upright",
    "exif_orientation",
    "load_image",
]

# A name for what this module does to pixels, for people (recorded with cached features); bump it
# with any change of decoding, orientation, resizing or rounding.
PIPELINE_VERSION = "decode_image-exif-bilinear-noantialias-round-uint8-v3"

EXIF_ORIENTATION_TAG = 0x0112


def exif_orientation(path: Path) -> int:
    """The EXIF orientation tag of an image file (1 = stored upright; 2-8 = mirror and/or rotate),
    1 when there is none or it cannot be read. Only the header is read."""
    try:
        with Image.open(path) as image:
            value = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """Turn a decoded image upright according to its EXIF orientation (1-8), as
    ``PIL.ImageOps.exif_transpose`` does: phones store portrait photos sideways with that tag."""

    def transpose(x: tf.Tensor) -> tf.Tensor:
        return tf.transpose(x, [1, 0, 2])

    branches = [
        lambda: image,  # 0: not a valid tag, leave as stored
        lambda: image,  # 1: upright
        lambda: tf.image.flip_left_right(image),  # 2: mirrored
        lambda: tf.image.rot90(image, 2),  # 3: upside down
        lambda: tf.image.flip_up_down(image),  # 4: mirrored upside down
        lambda: transpose(image),  # 5: mirrored along the diagonal
        lambda: tf.image.rot90(image, 3),  # 6: stored rotated 90 degrees anticlockwise
        lambda: tf.image.rot90(transpose(image), 2),  # 7: mirrored along the other diagonal
        lambda: tf.image.rot90(image, 1),  # 8: stored rotated 90 degrees clockwise
    ]
    return tf.switch_case(tf.clip_by_value(tf.cast(orientation, tf.int32), 0, 8), branches)


# Resize without antialiasing, like ``image_dataset_from_directory`` and the course's ImageNet
# weights' own preprocessing. Measured on the validation splits (benchmarks/resize_antialias.py,
# results in the README): switching antialiasing on did not raise validation accuracy, so the
# cheaper, standard resize stays. Changing this changes every pixel; the feature cache notices
# by itself (its key includes this module's source: training.cached_pass.FEATURE_CODE).
RESIZE_ANTIALIAS = False


def decode_upright(path: tf.Tensor | str, orientation: tf.Tensor | int = 1) -> tf.Tensor:
    """Read one image file into a float32 tensor of 0-255 values with 3 channels, turned upright.

    Grayscale images are expanded to RGB and an alpha channel is dropped (``channels=3``);
    16-bit PNGs keep their high byte; animated GIFs contribute their first frame;
    ``orientation`` (the file's EXIF tag, see ``exif_orientation``) turns the image upright.
    """
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    # Turned as float32, which is exact for 0-255: in a tf.data graph, TensorFlow's oneDNN rewrite
    # logs an error-level notice for every uint8 transpose on CPUs without AVX-512.
    return apply_orientation(tf.cast(image, tf.float32), tf.convert_to_tensor(orientation))


def decode_and_resize(
    path: tf.Tensor | str,
    image_size: tuple[int, int],
    orientation: tf.Tensor | int = 1,
    antialias: bool = RESIZE_ANTIALIAS,
) -> tf.Tensor:
    """The course's one image path: decode, turn upright, resize bilinearly to ``image_size``
    (height, width) and round to ``uint8``.

    Training, evaluation, prediction (``load_image``), the widgets and the plots all call it, so
    a photo gives the same pixels, and the same probabilities, whichever way it reaches a model.
    """
    image = tf.image.resize(decode_upright(path, orientation), image_size, antialias=antialias)
    return tf.saturate_cast(tf.round(image), tf.uint8)  # uint8 keeps the in-memory cache 4x smaller


def load_image(path: str | os.PathLike[str], size: tuple[int, int] | None = None) -> np.ndarray:
    """One image as a float32 ``(height, width, 3)`` array in 0-255, the way a camera meant it.

    It goes through the training pipeline's own decoder (``decode_and_resize``):
    EXIF orientation applied, grayscale, 16-bit, palette and alpha images made RGB, and with
    ``size`` = (height, width) resized exactly as for training, so a model sees the same pixels
    in prediction as it saw in training and evaluation. A file that cannot be decoded raises
    ``ValueError`` naming the file and the reason.
    """
    problem = image_problem(Path(path))
    if problem:
        raise ValueError(f"{path}: {problem}")
    orientation = exif_orientation(Path(path))
    try:
        if size is None:
            image = decode_upright(str(path), orientation)
        else:
            image = decode_and_resize(str(path), (int(size[0]), int(size[1])), orientation)
    except tf.errors.OpError as error:
        raise ValueError(
            f"{path}: TensorFlow cannot decode it ({error.message.splitlines()[0]}); "
            "save it again as an ordinary RGB JPEG or PNG"
        ) from error
    return np.asarray(image.numpy(), dtype=np.float32)
