"""Building a classifier: augmentation -> pretrained base (inference mode) -> pooling -> head.

Every classifier the course builds has the same explicit structure, which ``classifier_parts``
returns by part instead of by layer name::

    image -> [augmentation] -> base -> pooling -> head -> ClassLabels
                                ^ a backbone        ^ build_head: [Dense(256)] [Dropout] output

``ClassLabels``, the last layer, carries the class names, the backbone's registry name and the
kind of head into the saved ``.keras`` file, so a loaded model says what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras

from tl_helpers.backbones import (
    DEFAULT_BACKBONE,
    BackboneSpec,
    attach_spec,
    backbone_spec,
    build_backbone,
    get_backbone_spec,
)
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.errors import CourseError

__all__ = [
    "HEADS",
    "ClassLabels",
    "ClassifierParts",
    "accuracy_metric",
    "augmentation_block",
    "build_classifier",
    "build_head",
    "class_names_of",
    "classifier_parts",
    "find_backbone",
    "is_binary",
    "loss_for",
    "output_layer",
]

HEADS = ("pooling", "flatten")


@keras.saving.register_keras_serializable(package="tl_helpers")
class ClassLabels(keras.layers.Layer):
    """Passes probabilities through unchanged and remembers what the classifier is: its class
    names, the registry name of its backbone and the kind of head.

    Keeping them in a layer's config means they travel inside the ``.keras`` file, so a loaded
    model can say "roses: 0.93" rather than "class 2: 0.93", and can be fine-tuned again.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        backbone: str | None = None,
        head: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # pyright: ignore[reportArgumentType] - Keras's own keyword arguments
        self.class_names = [str(name) for name in class_names]
        self.backbone = backbone
        self.head = head

    def call(self, probabilities):  # noqa: D102
        return probabilities

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "class_names": self.class_names,
            "backbone": self.backbone,
            "head": self.head,
        }


def augmentation_block(
    rotation: float = 0.1, zoom: float = 0.1, contrast: float = 0.1, seed: int = DEFAULT_SEED
) -> keras.Sequential:
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


def _glorot(seed: int | None) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=seed)


def output_layer(num_classes: int, seed: int | None = DEFAULT_SEED) -> keras.layers.Dense:
    """The one output rule of the course: two classes get one sigmoid unit (the probability of
    the second class), more get a softmax over all of them. Probabilities, not logits:
    ``loss_for`` picks the matching loss. ``seed`` seeds the initial weights; ``None`` draws them
    from the global generators (``set_seeds``)."""
    if num_classes < 2:
        raise CourseError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    initializer = _glorot(seed)
    if num_classes == 2:
        return keras.layers.Dense(
            1, activation="sigmoid", kernel_initializer=initializer, name="probability"
        )
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=initializer, name="probabilities"
    )


def build_head(
    features: int,
    num_classes: int,
    *,
    dropout: float = 0.2,
    hidden: int | None = None,
    seed: int | None = DEFAULT_SEED,
) -> keras.Model:
    """The classifier's head on its own: a vector of ``features`` numbers in, class
    probabilities out. ``[Dense(hidden, relu)] -> [Dropout(dropout)] -> output_layer``.

    The same function builds the head inside ``build_classifier`` and the head trained on
    cached features (``train_head``), so trained weights carry over unchanged. ``seed`` seeds its
    initial weights and dropout; ``None`` draws them from the global generators (``set_seeds``)."""
    if not 0.0 <= dropout < 1.0:
        raise CourseError(f"dropout must be in [0, 1), got {dropout}")
    inputs = keras.Input(shape=(features,), name="features")
    x = inputs
    if hidden:
        hidden_seed = None if seed is None else seed + 1
        x = keras.layers.Dense(
            hidden,
            activation="relu",
            kernel_initializer=_glorot(hidden_seed),
            name=f"dense_{hidden}",
        )(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    return keras.Model(inputs, output_layer(num_classes, seed)(x), name="head")


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

    - ``head="pooling"`` (default): global average pooling, then ``build_head`` (optional
      dropout, the output layer). ``head="flatten"``: the classic blog recipe
      ``Flatten -> Dense(256, relu) -> Dropout(0.5)``.
    - Two classes give one sigmoid unit, more give a softmax (``output_layer``); ``loss_for``
      picks the loss.
    - The base is called with ``training=False``. Note that in Keras 3 ``fit`` overrides that
      for nested models; what keeps BatchNorm on its ImageNet statistics during fine-tuning is
      that ``unfreeze_top`` leaves the BatchNorm layers frozen (notebook 05, pitfall 3).
    - The base starts frozen; see ``freezing`` to unfreeze part of it.
    - ``seed`` seeds the head's initial weights and the augmentation; nothing global is reseeded
      (``set_seeds`` does that).
    """
    if num_classes < 2:
        raise CourseError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    if head not in HEADS:
        raise CourseError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    if not 0.0 <= dropout < 1.0:
        raise CourseError(f"dropout must be in [0, 1), got {dropout}")
    class_names = (
        list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]
    )
    if len(class_names) != num_classes:
        raise CourseError(
            f"{len(class_names)} class names given for num_classes={num_classes}: {class_names}"
        )

    base = build_backbone(backbone, image_size, weights) if isinstance(backbone, str) else backbone
    spec = backbone_spec(base)
    base.trainable = False

    inputs = keras.Input(shape=base.input_shape[1:], name="image")
    x = inputs
    layer = augmentation_block(seed=seed) if augmentation is True else augmentation
    if not isinstance(layer, bool):
        x = layer(x)
    x = base(x, training=False)
    if head == "pooling":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = build_head(int(x.shape[-1]), num_classes, dropout=dropout, seed=seed)(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
        x = build_head(int(x.shape[-1]), num_classes, dropout=0.5, hidden=256, seed=seed)(x)
    outputs = ClassLabels(class_names, backbone=spec.name, head=head, name="class_labels")(x)
    return keras.Model(inputs, outputs, name=f"{spec.name}_classifier")


@dataclass(frozen=True)
class ClassifierParts:
    """The parts of a classifier built by ``build_classifier`` (or loaded from its file)."""

    base: keras.Model  # the pretrained backbone
    spec: BackboneSpec  # what the backbone is: blocks, default size, preprocessing
    pooling: keras.layers.Layer  # GlobalAveragePooling2D (head="pooling") or Flatten
    head: keras.Model  # build_head: pooled features in, probabilities out
    labels: ClassLabels  # class names and what the classifier is


def classifier_parts(model: keras.Model) -> ClassifierParts:
    """Take a classifier apart by its structure, ``... base -> pooling -> head -> ClassLabels``;
    the backbone is identified by the name ``ClassLabels`` recorded, never by a layer's name."""
    layers = model.layers
    labels = layers[-1] if layers else None
    if not isinstance(labels, ClassLabels) or len(layers) < 4:
        raise CourseError(
            f"{model.name} was not built by build_classifier (it does not end in ClassLabels); "
            "build it with build_classifier or load it with load_classifier"
        )
    if labels.backbone is None:
        raise CourseError(
            f"{model.name} was saved by an older version of the course that did not record its backbone; "
            "train it again (python -m tl_helpers train) to get a model this version can take apart"
        )
    base, pooling, head = layers[-4], layers[-3], layers[-2]
    if not (
        isinstance(base, keras.Model)
        and isinstance(head, keras.Model)
        and isinstance(pooling, (keras.layers.GlobalAveragePooling2D, keras.layers.Flatten))
    ):
        raise CourseError(
            f"{model.name} does not have the structure base -> pooling -> head -> ClassLabels of build_classifier"
        )
    spec = get_backbone_spec(labels.backbone)
    attach_spec(base, spec)  # a loaded model's backbone learns what it is again
    return ClassifierParts(base, spec, pooling, head, labels)


def find_backbone(model: keras.Model) -> keras.Model:
    """The pretrained base inside a classifier built by ``build_classifier``."""
    return classifier_parts(model).base


def is_binary(model: keras.Model) -> bool:
    """True for a one-sigmoid-unit classifier."""
    return model.output_shape[-1] == 1


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


def class_names_of(model: keras.Model) -> list[str]:
    """The class names stored in a classifier (``class_0``... if none were given)."""
    for layer in model.layers:
        if isinstance(layer, ClassLabels):
            return list(layer.class_names)
    return [f"class_{i}" for i in range(max(2, model.output_shape[-1]))]
