"""Backbones: pretrained bases that map 0-255 images to feature maps, preprocessing included."""

from tl_helpers.backbones.registry import (
    DEFAULT_BACKBONE,
    REGISTRY,
    BackboneSpec,
    WeightsUnavailableError,
    attach_spec,
    backbone_names,
    backbone_spec,
    build_backbone,
    get_backbone_spec,
    keras_weights_dir,
    list_blocks,
)

__all__ = [
    "DEFAULT_BACKBONE",
    "REGISTRY",
    "BackboneSpec",
    "WeightsUnavailableError",
    "attach_spec",
    "backbone_names",
    "backbone_spec",
    "build_backbone",
    "get_backbone_spec",
    "keras_weights_dir",
    "list_blocks",
]
