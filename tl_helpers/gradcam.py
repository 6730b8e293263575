"""Grad-CAM: where in the photo a classifier looked to give its answer (the algorithm; the
figures are in ``plots``, the widget in ``widgets``)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tl_helpers.models import classifier_parts, is_binary

__all__ = ["gradcam", "overlay"]


def gradcam(model: keras.Model, image: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM heatmap (0-1, image-sized) of where ``model`` looked to score ``class_index``
    (default: the predicted class).

    The gradient of the class score (before the final sigmoid/softmax, so confident predictions
    still have useful gradients) with respect to the backbone's last feature map weights each
    channel; their weighted sum, rectified, is the map. Works for any backbone in the registry.
    """
    parts = classifier_parts(model)
    *hidden, final_dense = parts.head.layers[
        1:
    ]  # the head: its input, [Dense(256)] [Dropout], output layer
    if not isinstance(final_dense, keras.layers.Dense):
        raise TypeError(f"the head of {model.name} does not end in a Dense layer")
    batch = tf.convert_to_tensor(np.asarray(image, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        feature_map = parts.base(batch, training=False)
        tape.watch(feature_map)
        x = parts.pooling(feature_map)
        for layer in hidden:
            x = layer(x, training=False)
        logits = tf.matmul(x, final_dense.kernel) + final_dense.bias
        if is_binary(model):
            chosen = int(logits[0, 0] > 0) if class_index is None else class_index
            score = logits[:, 0] if chosen == 1 else -logits[:, 0]
        else:
            chosen = int(tf.argmax(logits[0])) if class_index is None else class_index
            score = logits[:, chosen]
    gradients = tape.gradient(score, feature_map)
    channel_weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(feature_map * channel_weights, axis=-1))[0]
    cam = cam / (tf.reduce_max(cam) + 1e-8)
    resized = tf.image.resize(tf.expand_dims(cam, -1), tf.shape(batch)[1:3])[..., 0]
    return resized.numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with the heatmap blended on top (jet colours), as uint8 RGB."""
    from matplotlib import colormaps

    colours = colormaps["jet"](heatmap)[..., :3] * 255.0
    return np.clip((1 - alpha) * image + alpha * colours, 0, 255).astype(np.uint8)
