"""Cutting a backbone in two before its top blocks: the frozen bottom, whose output can be stored,
and the top, made of the base's own layers, which fine-tuning trains."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tl_helpers.backbones import BackboneSpec, backbone_spec, list_blocks
from tl_helpers.errors import CourseError
from tl_helpers.models import input_size

__all__ = ["BackboneParts", "backbone_section", "split_backbone"]


@dataclass(frozen=True)
class BackboneParts:
    """A backbone cut in two before its top ``blocks`` blocks (``split_backbone``)."""

    base: keras.Model  # the backbone that was cut; bottom and top are made of its layers
    bottom: keras.Model  # images -> the tensor entering the first of the top blocks
    top: (
        keras.Model
    )  # that tensor (any height and width) -> the base's output, made of the base's own layers
    cut: str  # name of the first layer above the cut
    blocks: int  # how many blocks are above the cut
    spec: BackboneSpec  # which backbone was cut
    image_size: tuple[int, int]  # the bottom's input size

    @property
    def cache_name(self) -> str:
        """Where the cut is, in the words the activation cache is keyed by."""
        return f"{self.spec.name}_below_{self.cut}"


def split_backbone(base: keras.Model, blocks: int) -> BackboneParts:
    """Cut a backbone (from ``build_backbone``) in two before its last ``blocks`` blocks.

    ``bottom`` maps images to the tensor entering the first of those blocks; ``top`` maps that
    tensor (any height and width) to the base's output. ``top`` reuses the base's own layers, so
    training it trains the base. ``top(bottom(x))`` equals ``base(x)``.
    """
    base_blocks = list_blocks(base)
    if not 1 <= blocks <= len(base_blocks):
        raise CourseError(
            f"{base.name} has {len(base_blocks)} blocks; blocks must be between 1 and {len(base_blocks)}, got {blocks}"
        )
    block_name, first = base_blocks[-blocks]
    cut = base.layers[first].input
    if isinstance(cut, (list, tuple)):
        raise CourseError(
            f"cannot cut {base.name} before {block_name}: its first layer takes several inputs"
        )
    bottom = keras.Model(base.input, cut, name=f"{base.name}_bottom{blocks}")
    top = _replay(base, first, len(base.layers), base.output, f"{base.name}_top{blocks}")
    return BackboneParts(
        base, bottom, top, base.layers[first].name, blocks, backbone_spec(base), input_size(base)
    )


def _replay(
    base: keras.Model, first: int, stop: int, output: keras.KerasTensor, name: str
) -> keras.Model:
    """A model made of the base's own layers ``first..stop-1``, fed from a new input that stands
    for the tensor entering layer ``first``."""
    cut = base.layers[first].input
    if isinstance(cut, (list, tuple)):
        raise CourseError(
            f"cannot cut {base.name} before {base.layers[first].name}: it takes several inputs"
        )
    section_input = keras.Input(
        shape=(None, None, cut.shape[-1]), name=f"{base.layers[first].name}_input"
    )
    replayed: dict[int, keras.KerasTensor] = {id(cut): section_input}
    for layer in base.layers[first:stop]:
        sources = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        missing = [tensor.name for tensor in sources if id(tensor) not in replayed]
        if missing:
            raise CourseError(
                f"cannot cut {base.name} before {base.layers[first].name}: layer {layer.name} also reads {missing} from below the cut"
            )
        inputs = [replayed[id(tensor)] for tensor in sources]
        replayed[id(layer.output)] = layer(
            inputs if isinstance(layer.input, (list, tuple)) else inputs[0]
        )
    return keras.Model(section_input, replayed[id(output)], name=name)


def backbone_section(base: keras.Model, from_blocks: int, to_blocks: int) -> keras.Model:
    """The part of a backbone between two cuts: it maps the activations entering its top
    ``from_blocks`` blocks to those entering its top ``to_blocks`` blocks (``from_blocks >
    to_blocks``). Running it once over stored activations gives the activations of a higher cut
    without running the images through the bottom again."""
    base_blocks = list_blocks(base)
    if not len(base_blocks) >= from_blocks > to_blocks >= 1:
        raise CourseError(
            f"{base.name} has {len(base_blocks)} blocks; need {len(base_blocks)} >= from_blocks > to_blocks >= 1, "
            f"got from_blocks={from_blocks}, to_blocks={to_blocks}"
        )
    first, stop = base_blocks[-from_blocks][1], base_blocks[-to_blocks][1]
    return _replay(
        base, first, stop, base.layers[stop].input, f"{base.name}_blocks{from_blocks}to{to_blocks}"
    )
