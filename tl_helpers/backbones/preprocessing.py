"""Preprocessing layers that live inside the model, so a saved classifier takes raw 0-255 images.

Older code often calls ``preprocess_input`` in the data pipeline (or ``rescale=1/255`` in an
``ImageDataGenerator``); that works until someone feeds the saved model raw pixels. A layer in
the model removes that trap. These are ordinary registered layers, not ``Lambda`` layers, so a
model that contains them loads with Keras's ``safe_mode``.
"""

from __future__ import annotations

import keras

__all__ = ["CAFFE_BGR_MEAN", "CaffePreprocess", "passthrough", "scale_to_minus_one_one"]

# ImageNet channel means in BGR order, as used by the original Caffe VGG and ResNet models.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="tl_helpers")
class CaffePreprocess(keras.layers.Layer):
    """RGB 0-255 -> BGR with the ImageNet mean subtracted (VGG16, ResNet50)."""

    def call(self, images):  # noqa: D102 - one line of arithmetic
        bgr = keras.ops.flip(images, axis=-1)
        return bgr - keras.ops.convert_to_tensor(CAFFE_BGR_MEAN, dtype=bgr.dtype)


def scale_to_minus_one_one(name: str = "preprocess") -> keras.layers.Layer:
    """0-255 -> -1..1 (MobileNetV2, Inception-style models)."""
    return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=name)


def passthrough(name: str = "preprocess") -> keras.layers.Layer:
    """No change: for models that normalise inside themselves (Keras's EfficientNetB0)."""
    return keras.layers.Identity(name=name)
