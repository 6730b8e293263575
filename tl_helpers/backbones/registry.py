"""The backbone registry: every pretrained base the course can use, built the same way.

Whatever the backbone, ``build_backbone`` returns a Keras model from a batch of 0-255 RGB images
to its last feature map, with the backbone's own preprocessing as a layer inside the model.

- ``efficientnet_lite0`` (the default) has ImageNet weights that work offline (see
  ``efficientnet_lite``).
- The Keras applications download their ImageNet weights on first use; with no internet the
  error says which file is missing and what to do. ``weights=None`` builds any of them offline.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras

from tl_helpers.backbones import efficientnet_lite
from tl_helpers.backbones.preprocessing import CaffePreprocess, passthrough, scale_to_minus_one_one
from tl_helpers.errors import CourseError, UnknownNameError
from tl_helpers.fingerprints import file_digest

__all__ = [
    "DEFAULT_BACKBONE",
    "REGISTRY",
    "BackboneSpec",
    "WeightsUnavailableError",
    "attach_spec",
    "backbone_names",
    "backbone_size",
    "backbone_spec",
    "build_backbone",
    "get_backbone_spec",
    "keras_weights_dir",
    "list_blocks",
    "weights_identity",
]


class WeightsUnavailableError(CourseError):
    """ImageNet weights for a backbone could not be downloaded or found."""


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone: how to build it, its default input size, its preprocessing (a layer inside
    the model) and how its layers form blocks. ``build_backbone`` attaches it to the model it
    builds (``backbone_spec``); a classifier records its name in the saved file."""

    name: str
    default_size: int
    description: str
    block_pattern: str  # regex on layer names; group 1 names the block a layer belongs to
    offline_weights: bool  # True when ImageNet weights need no download
    _application: Callable[..., keras.Model] | None = None
    _preprocessing: Callable[[], keras.layers.Layer] | None = None

    def block_of(self, layer_name: str) -> str | None:
        """The block a layer belongs to, or ``None`` for layers outside every block."""
        match = re.match(self.block_pattern, layer_name)
        return match.group(1) if match else None


# What each backbone model is, kept beside the model (never guessed from its name). A weak map,
# so a discarded model does not stay alive because of it.
_SPECS: weakref.WeakKeyDictionary[keras.Model, BackboneSpec] = weakref.WeakKeyDictionary()


def _caffe() -> keras.layers.Layer:
    return CaffePreprocess(name="preprocess")


REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec(
            "efficientnet_lite0",
            224,
            "EfficientNet-Lite0, 3.4 M parameters in its base, ReLU6 and no squeeze-excite: fast on CPUs",
            r"^(block\d+)_",
            offline_weights=True,
        ),
        BackboneSpec(
            "efficientnet_lite1",
            240,
            "EfficientNet-Lite1, Lite0 made 1.1 times deeper (21 blocks), 4.2 M parameters in its base",
            r"^(block\d+)_",
            offline_weights=True,
        ),
        BackboneSpec(
            "efficientnet_lite2",
            260,
            "EfficientNet-Lite2, 1.1 times wider and 1.2 times deeper than Lite0, 4.9 M parameters in its base",
            r"^(block\d+)_",
            offline_weights=True,
        ),
        BackboneSpec(
            "mobilenet_v2",
            224,
            "MobileNetV2 (the TensorFlow transfer-learning tutorial's model), 2.3 M parameters",
            r"^(expanded_conv|block_\d+)_",
            False,
            keras.applications.MobileNetV2,
            scale_to_minus_one_one,
        ),
        BackboneSpec(
            "vgg16",
            224,
            "VGG16 (the classic blog recipe), 14.7 M parameters in its convolutional base",
            r"^(block\d)_",
            False,
            keras.applications.VGG16,
            _caffe,
        ),
        BackboneSpec(
            "efficientnet_b0",
            224,
            "EfficientNetB0, 4.0 M parameters, swish and squeeze-excite",
            r"^(block\d[a-z])_",
            False,
            keras.applications.EfficientNetB0,
            passthrough,
        ),
        BackboneSpec(
            "resnet50",
            224,
            "ResNet50, 23.6 M parameters in its convolutional base",
            r"^(conv\d_block\d+)_",
            False,
            keras.applications.ResNet50,
            _caffe,
        ),
    ]
}
DEFAULT_BACKBONE = "efficientnet_lite0"


def backbone_names() -> list[str]:
    """Names accepted by ``build_backbone``."""
    return list(REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    """The registry entry for ``name``, or an error that lists the valid names."""
    if name not in REGISTRY:
        raise UnknownNameError("backbone", name, REGISTRY)
    return REGISTRY[name]


def attach_spec(base: keras.Model, spec: BackboneSpec) -> keras.Model:
    """Record that ``base`` is the backbone ``spec`` (``build_backbone`` does this; so does
    ``classifier_parts`` for a classifier loaded from a file, which names its backbone)."""
    _SPECS[base] = spec
    return base


def backbone_spec(base: keras.Model) -> BackboneSpec:
    """The spec of a backbone built by ``build_backbone`` (or found in a classifier)."""
    spec = _SPECS.get(base)
    if spec is None:
        raise CourseError(
            f"{base.name} was not built by build_backbone, so its blocks are unknown: build it with "
            "build_backbone(name), or pass a classifier from build_classifier or load_classifier"
        )
    return spec


def keras_weights_dir() -> Path:
    """Where Keras looks for (and saves) downloaded application weights."""
    from keras.src.backend import (
        config as keras_config,
    )  # the same function keras.utils.get_file uses

    return Path(keras_config.keras_home()).expanduser() / "models"


def _weights_error(name: str, error: Exception) -> WeightsUnavailableError:
    text = str(error)
    url_match = re.search(r"(https?://\S+?\.h5)", text)
    url = url_match.group(1) if url_match else "(the URL Keras printed above)"
    filename = url.rsplit("/", 1)[-1] if url_match else "the weights file"
    reason = text.split(" -- ", 1)[-1] if " -- " in text else text
    return WeightsUnavailableError(
        f"Could not load ImageNet weights for backbone {name!r}: Keras tried to download {filename} from {url} "
        f"({reason.strip()}).\n"
        "Alternatives:\n"
        f"  - use backbone 'efficientnet_lite0', whose ImageNet weights are installed with the course;\n"
        f"  - download {url} on a machine with internet and put it at {keras_weights_dir() / filename}, then run again;\n"
        "  - weights=None builds the same architecture with random weights (fine for trying the code, not for accuracy)."
    )


def backbone_size(name: str, image_size: int | tuple[int, int] | None = None) -> tuple[int, int]:
    """``image_size`` as ``(height, width)``; ``None`` means the backbone's own size (its
    ``BackboneSpec.default_size``: 224 for most, 240 and 260 for EfficientNet-Lite1 and Lite2)."""
    size = get_backbone_spec(name).default_size if image_size is None else image_size
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def build_backbone(
    name: str = DEFAULT_BACKBONE,
    image_size: int | tuple[int, int] | None = None,
    weights: str | None = "imagenet",
    include_top: bool = False,
) -> keras.Model:
    """A pretrained base: 0-255 RGB images in, the last feature map out, preprocessing inside.

    ``image_size`` defaults to the backbone's own (224 for most, 240 and 260 for EfficientNet-Lite1
    and Lite2). The model carries its spec (``backbone_spec(model)``), which is how the freezing
    helpers find its blocks later. ``include_top=True`` (the EfficientNet-Lite family) returns
    the whole ImageNet classifier instead: 1000 class probabilities, for checking what the base
    already knows.
    """
    spec = get_backbone_spec(name)
    height, width = backbone_size(name, image_size)
    if min(height, width) < 32:
        raise CourseError(
            f"image size {height}x{width} is too small for {name}: use at least 32x32 "
            f"({spec.default_size} is its default)"
        )
    input_shape = (height, width, 3)
    if weights not in ("imagenet", None):
        raise CourseError(f"weights must be 'imagenet' or None, got {weights!r}")

    if spec._application is None:
        model = efficientnet_lite.efficientnet_lite(name, input_shape, include_top, weights)
        return model if include_top else attach_spec(model, spec)
    if include_top:
        raise CourseError(
            f"include_top=True is offered for the offline EfficientNet-Lite family "
            f"({', '.join(efficientnet_lite.LITE_MODELS)}), not for {name}: use "
            f"keras.applications directly for its ImageNet classifier"
        )

    inputs = keras.Input(shape=input_shape, name="image")
    assert spec._preprocessing is not None  # every Keras application in the registry names one
    preprocessed = spec._preprocessing()(inputs)
    try:
        application = spec._application(
            input_tensor=preprocessed, input_shape=input_shape, include_top=False, weights=weights
        )
    except Exception as error:  # Keras raises a bare Exception for a failed download
        if "URL fetch failure" in str(error) or isinstance(error, OSError):
            raise _weights_error(name, error) from error
        raise
    return attach_spec(keras.Model(inputs, application.output, name=name), spec)


def list_blocks(base: keras.Model) -> list[tuple[str, int]]:
    """The backbone's blocks in order, as ``(block name, index of its first layer)``."""
    spec = backbone_spec(base)
    found: list[tuple[str, int]] = []
    for index, layer in enumerate(base.layers):
        block = spec.block_of(layer.name)
        if block is not None and (not found or found[-1][0] != block):
            found.append((block, index))
    return found


def weights_identity(name: str, weights: str | None = "imagenet") -> str:
    """A string that changes whenever backbone ``name``'s weights would: the hash of the PyTorch
    file and the converter's version for the offline family, the Keras version for the others.
    Caches of what a backbone computes are keyed by it (``training.cached_pass.cache_key``)."""
    if weights is None:
        raise CourseError(
            "features of a randomly initialised base are not worth caching; use weights='imagenet'"
        )
    if get_backbone_spec(name).offline_weights:
        digest = file_digest(efficientnet_lite.weights_source(name))[:16]
        return f"{name}:pytorch-sha256-{digest}:converter-v{efficientnet_lite.CONVERTER_VERSION}"
    return f"{name}:keras-applications-{weights}:keras-{keras.__version__}"
