"""Building a classifier: augmentation -> pretrained base (inference mode) -> head -> probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tl_helpers.backbones import DEFAULT_BACKBONE, REGISTRY, build_backbone
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.errors import CourseError

HEADS = ("pooling", "flatten")


@keras.saving.register_keras_serializable(package="tl_helpers")
class ClassLabels(keras.layers.Layer):
    """Passes probabilities through unchanged and remembers the class names.

    Keeping the names in a layer's config means they travel inside the ``.keras`` file, so a
    loaded model can say "roses: 0.93" rather than "class 2: 0.93".
    """

    def __init__(self, class_names: Sequence[str], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.class_names = [str(name) for name in class_names]

    def call(self, probabilities):  # noqa: D102
        return probabilities

    def get_config(self) -> dict:
        return {**super().get_config(), "class_names": self.class_names}


def augmentation_block(rotation: float = 0.1, zoom: float = 0.1, contrast: float = 0.1, seed: int = DEFAULT_SEED) -> keras.Sequential:
    """Random flip, rotation, zoom and contrast on 0-255 images.

    These layers change images only while training; at evaluation and prediction time they
    pass images through untouched. This replaces ``ImageDataGenerator(horizontal_flip=True,
    rotation_range=..., zoom_range=...)`` from older tutorials, and runs inside the model.
    """
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(rotation, seed=seed + 1),
            keras.layers.RandomZoom(zoom, seed=seed + 2),
            keras.layers.RandomContrast(contrast, seed=seed + 3),
        ],
        name="augmentation",
    )


def build_classifier(
    backbone: str | keras.Model = DEFAULT_BACKBONE,
    num_classes: int = 2,
    *,
    class_names: Sequence[str] | None = None,
    image_size: int | tuple[int, int] | None = None,
    head: str = "pooling",
    dropout: float = 0.2,
    augmentation: bool | keras.Layer = False,
    weights: str | None = "imagenet",
    seed: int = DEFAULT_SEED,
) -> keras.Model:
    """A transfer-learning classifier on a frozen pretrained base.

    - ``head="pooling"`` (default): global average pooling, optional dropout, one dense layer.
      ``head="flatten"``: the classic blog recipe ``Flatten -> Dense(256, relu) -> Dropout(0.5)``.
    - Two classes give one sigmoid unit, more give a softmax; ``loss_for`` picks the loss.
    - The base is called with ``training=False``. Note that in Keras 3 ``fit`` overrides that
      for nested models; what keeps BatchNorm on its ImageNet statistics during fine-tuning is
      that ``unfreeze_top`` leaves the BatchNorm layers frozen (notebook 05, pitfall 3).
    - The base starts frozen; see ``freezing`` to unfreeze part of it.
    """
    if num_classes < 2:
        raise CourseError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    if head not in HEADS:
        raise CourseError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    if not 0.0 <= dropout < 1.0:
        raise CourseError(f"dropout must be in [0, 1), got {dropout}")
    class_names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]
    if len(class_names) != num_classes:
        raise CourseError(f"{len(class_names)} class names given for num_classes={num_classes}: {class_names}")

    keras.utils.set_random_seed(seed)  # the head's initial weights are part of the result
    base = build_backbone(backbone, image_size, weights) if isinstance(backbone, str) else backbone
    base.trainable = False

    inputs = keras.Input(shape=base.input_shape[1:], name="image")
    x = inputs
    if augmentation is True:
        x = augmentation_block(seed=seed)(x)
    elif isinstance(augmentation, keras.Layer):
        x = augmentation(x)
    x = base(x, training=False)
    if head == "pooling":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(256, activation="relu", name="dense_256")(x)
        x = keras.layers.Dropout(0.5, name="dropout")(x)
    if num_classes == 2:
        x = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    else:
        x = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    outputs = ClassLabels(class_names, name="class_labels")(x)
    return keras.Model(inputs, outputs, name=f"{base.name}_classifier")


def is_binary(model: keras.Model) -> bool:
    """True for a one-sigmoid-unit classifier."""
    return model.output_shape[-1] == 1


def class_probabilities(raw: np.ndarray) -> np.ndarray:
    """``(n, classes)`` probabilities from a model's output: one sigmoid column ``p`` becomes
    ``[1 - p, p]`` so binary and multi-class results can be handled the same way."""
    raw = np.asarray(raw)
    return np.concatenate([1.0 - raw, raw], axis=1) if raw.shape[1] == 1 else raw


def loss_for(model: keras.Model) -> keras.losses.Loss:
    """Binary cross-entropy for one sigmoid unit, sparse categorical cross-entropy for a softmax.

    Both expect probabilities (``from_logits=False``) because the model ends in its activation,
    and integer labels, which is what the course's pipelines produce.
    """
    if is_binary(model):
        return keras.losses.BinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy()


def accuracy_metric(model: keras.Model) -> keras.metrics.Metric:
    """The accuracy that matches ``loss_for``, always reported as ``accuracy``."""
    if is_binary(model):
        return keras.metrics.BinaryAccuracy(name="accuracy")
    return keras.metrics.SparseCategoricalAccuracy(name="accuracy")


def find_backbone(model: keras.Model) -> keras.Model:
    """The pretrained base inside a classifier built by ``build_classifier``."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name in REGISTRY:
            return layer
    raise CourseError(f"{model.name} has no backbone from the registry ({', '.join(REGISTRY)}) inside it")


def class_names_of(model: keras.Model) -> list[str]:
    """The class names stored in a classifier (``class_0``... if none were given)."""
    for layer in model.layers:
        if isinstance(layer, ClassLabels):
            return list(layer.class_names)
    return [f"class_{i}" for i in range(max(2, model.output_shape[-1]))]
