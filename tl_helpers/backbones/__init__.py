"""Backbones: pretrained bases that map 0-255 images to feature maps, preprocessing included."""

from tl_helpers.backbones import registry
from tl_helpers.backbones.registry import *  # noqa: F403 (each module's __all__ is the public part)

__all__ = []  # filled from the modules: one list each, not a copy
__all__ += registry.__all__
