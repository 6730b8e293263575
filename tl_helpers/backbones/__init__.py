"""Backbones: pretrained bases that map 0-255 images to feature maps, preprocessing included."""

from tl_helpers.backbones.registry import (
    DEFAULT_BACKBONE,
    REGISTRY,
    BackboneSpec,
    WeightsUnavailableError,
    backbone_names,
    blocks,
    build_backbone,
    get_backbone_spec,
    keras_weights_dir,
)

__all__ = [
    "DEFAULT_BACKBONE",
    "REGISTRY",
    "BackboneSpec",
    "WeightsUnavailableError",
    "backbone_names",
    "blocks",
    "build_backbone",
    "get_backbone_spec",
    "keras_weights_dir",
]
