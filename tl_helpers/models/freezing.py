"""Freezing and unfreezing a classifier's base, and compiling so that the change takes effect.

Two rules from the Keras transfer-learning guide, enforced here:

1. BatchNorm layers stay frozen even when their block is unfrozen: their ImageNet statistics
   are worth more than what a few thousand images can teach them.
2. ``trainable`` is read when the model is *compiled*. Change it afterwards and Keras silently
   keeps training the old set of weights. ``compile_classifier`` records what was trainable;
   ``check_compiled`` raises if it changed since, and the training helpers call it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import keras

from tl_helpers.backbones import list_blocks
from tl_helpers.errors import CourseError
from tl_helpers.models.build import accuracy_metric, find_backbone, loss_for

__all__ = [
    "ParameterCounts",
    "StaleCompileError",
    "check_compiled",
    "compile_classifier",
    "freeze_base",
    "parameter_counts",
    "unfreeze_top",
]

_COMPILED_STATE: weakref.WeakKeyDictionary[keras.Model, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)


class StaleCompileError(CourseError):
    """``trainable`` changed after ``compile``: the change would silently be ignored."""


@dataclass(frozen=True)
class ParameterCounts:
    """Trainable and frozen parameter counts of a model."""

    trainable: int
    non_trainable: int

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def __str__(self) -> str:
        return f"trainable {self.trainable:,} | non-trainable {self.non_trainable:,} | total {self.total:,}"


def parameter_counts(model: keras.Model) -> ParameterCounts:
    """How many parameters training will update, and how many stay fixed."""
    trainable = sum(int(keras.ops.size(v)) for v in model.trainable_weights)
    frozen = sum(int(keras.ops.size(v)) for v in model.non_trainable_weights)
    return ParameterCounts(trainable, frozen)


def freeze_base(model: keras.Model) -> None:
    """Freeze the whole pretrained base; only the head trains. Recompile afterwards."""
    find_backbone(model).trainable = False


def unfreeze_top(
    model: keras.Model,
    *,
    blocks: int | None = None,
    from_block: int | str | None = None,
    from_layer: str | None = None,
) -> list[str]:
    """Unfreeze the top of the base from a starting point; everything below stays frozen.

    Give exactly one of: ``blocks`` (the last N blocks), ``from_block`` (a block index
    counted from 0, or a block name such as ``"block12"``), or ``from_layer`` (a layer name).
    Layers after the last block (the final 1x1 convolution of most backbones) are unfrozen too.
    BatchNorm layers stay frozen. Returns the names of the layers now trainable. Recompile
    afterwards, with a low learning rate (``compile_classifier(model, 1e-5)``).
    """
    if sum(option is not None for option in (blocks, from_block, from_layer)) != 1:
        raise CourseError("give exactly one of blocks=, from_block= or from_layer=")
    base = find_backbone(model)
    layers = base.layers
    base_blocks = list_blocks(base)
    names = [name for name, _ in base_blocks]
    if blocks is not None:
        if not 0 <= blocks <= len(base_blocks):
            raise CourseError(
                f"{base.name} has {len(base_blocks)} blocks; blocks must be between 0 and {len(base_blocks)}, got {blocks}"
            )
        start = len(layers) if blocks == 0 else base_blocks[-blocks][1]
    elif from_block is not None:
        if isinstance(from_block, str):
            if from_block not in names:
                raise CourseError(
                    f"{base.name} has no block {from_block!r}; its blocks are {', '.join(names)}"
                )
            start = base_blocks[names.index(from_block)][1]
        else:
            if not 0 <= from_block < len(base_blocks):
                raise CourseError(
                    f"{base.name} has blocks 0 to {len(base_blocks) - 1}; got from_block={from_block}"
                )
            start = base_blocks[from_block][1]
    else:
        layer_names = [layer.name for layer in layers]
        if from_layer not in layer_names:
            raise CourseError(
                f"{base.name} has no layer {from_layer!r} (see [l.name for l in find_backbone(model).layers])"
            )
        start = layer_names.index(from_layer)

    base.trainable = True
    unfrozen = []
    for index, layer in enumerate(layers):
        layer.trainable = index >= start and not isinstance(layer, keras.layers.BatchNormalization)
        if layer.trainable and layer.weights:
            unfrozen.append(layer.name)
    return unfrozen


def _trainable_state(model: keras.Model) -> tuple[str, ...]:
    return tuple(v.path for v in model.trainable_weights)


def compile_classifier(
    model: keras.Model,
    learning_rate: float = 1e-3,
    optimizer: keras.optimizers.Optimizer | None = None,
    steps_per_execution: int = 1,
) -> keras.Model:
    """Compile with the loss and accuracy that match the output layer, and remember what is
    trainable right now (see ``check_compiled``). Adam at ``learning_rate`` unless an optimizer
    is given; ``steps_per_execution`` > 1 runs several batches per call (for tiny models)."""
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate),
        loss=loss_for(model),
        metrics=[accuracy_metric(model)],
        steps_per_execution=steps_per_execution,
    )
    _COMPILED_STATE[model] = _trainable_state(model)
    return model


def check_compiled(model: keras.Model) -> None:
    """Raise ``StaleCompileError`` if ``trainable`` changed since the last ``compile_classifier``."""
    if model not in _COMPILED_STATE:
        raise StaleCompileError(
            f"{model.name} was not compiled with compile_classifier(model, learning_rate) yet"
        )
    compiled, now = _COMPILED_STATE[model], _trainable_state(model)
    if compiled != now:
        raise StaleCompileError(
            f"{model.name}: the trainable weights changed since compile ({len(compiled)} then, {len(now)} now). "
            "Keras would keep training the old set and silently ignore the change. "
            "Call compile_classifier(model, learning_rate=1e-5) after freezing or unfreezing."
        )
