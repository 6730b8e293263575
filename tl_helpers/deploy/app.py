"""Predicting one photo the way an app would: Pillow, NumPy and the LiteRT interpreter only.

An app that ships a ``.tflite`` file has no TensorFlow, so it must reproduce what the course
did to every photo before the model saw it, or its predictions drift from the ones measured:

1. decode, and turn the photo upright by its EXIF orientation (phones store portraits sideways);
2. make it 3-channel RGB (grayscale, palette and alpha images);
3. resize to the model's input size *exactly* as ``tf.image.resize`` does (bilinear, half-pixel
   centres, no antialiasing), in float32, then round to whole 0-255 values.

The model itself holds the rest (scaling to its own range, the backbone, the head, the softmax).
Nothing in this module imports TensorFlow; the notebook and the tests check that.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tl_helpers.deploy.metadata import ModelInfo, read_model_info
from tl_helpers.extras import require
from tl_helpers.startup import is_runtime_notice, native_output_filtered

__all__ = ["load_photo", "predict_photo", "resize_like_tensorflow"]


def _bilinear_weights(out_size: int, in_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output row (or column): the two source rows it mixes and the second one's weight."""
    scale = np.float32(in_size / out_size)
    centre = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(centre)
    lower = np.maximum(floor, 0).astype(np.int64)
    upper = np.minimum(np.ceil(centre), in_size - 1).astype(np.int64)
    return lower, upper, (centre - floor).astype(np.float32)


def resize_like_tensorflow(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``tf.image.resize(image, size)`` (bilinear, ``antialias=False``) in NumPy, float32."""
    image = np.asarray(image, dtype=np.float32)
    top, bottom, y_weight = _bilinear_weights(size[0], image.shape[0])
    left, right, x_weight = _bilinear_weights(size[1], image.shape[1])
    x_weight = x_weight[None, :, None]
    upper_row = image[top][:, left] + (image[top][:, right] - image[top][:, left]) * x_weight
    lower_row = (
        image[bottom][:, left] + (image[bottom][:, right] - image[bottom][:, left]) * x_weight
    )
    return upper_row + (lower_row - upper_row) * y_weight[:, None, None]


def load_photo(path: str | os.PathLike[str], size: tuple[int, int]) -> np.ndarray:
    """A photo as the course's pipeline gives it: ``(height, width, 3)`` float32 whole numbers
    0-255, upright, RGB, resized to ``size`` = (height, width)."""
    with Image.open(path) as photo:
        upright = ImageOps.exif_transpose(photo).convert("RGB")
    resized = resize_like_tensorflow(np.asarray(upright), size)
    return np.clip(np.round(resized), 0, 255).astype(np.float32)  # round half to even, as tf.round


def predict_photo(
    model_path: str | os.PathLike[str], photo_path: str | os.PathLike[str]
) -> dict[str, float]:
    """Each class's probability for one photo, from a ``.tflite`` file exported by the course."""
    Interpreter = require("ai_edge_litert.interpreter", "predict_photo").Interpreter

    info: ModelInfo = read_model_info(Path(model_path))
    with native_output_filtered(is_runtime_notice):  # LiteRT's "INFO: Created ... delegate" line
        interpreter = Interpreter(model_path=str(model_path))
        interpreter.allocate_tensors()  # the exported input takes one photo unless resized
    image = load_photo(photo_path, info.image_size)[None]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    probabilities = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    return {name: float(p) for name, p in zip(info.class_names, probabilities)}
