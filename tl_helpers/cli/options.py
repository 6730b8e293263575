"""What several commands share: the test-time augmentation flag, and loading a model whatever
its format (a ``.keras`` file or an exported model, each run by its own runtime)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_model_argument", "add_tta_flag", "load_any_model"]


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """The ``MODEL`` argument of ``evaluate`` and ``predict``."""
    parser.add_argument(
        "model",
        help="a .keras file saved by the course, or an exported model (.tflite, .onnx, or a "
        "SavedModel folder)",
    )


def add_tta_flag(parser: argparse.ArgumentParser) -> None:
    """``--tta``: average each photo's probabilities with its mirror image's."""
    parser.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average each photo's probabilities with its mirror image's",
    )


def load_any_model(path: str) -> tuple[Any, tuple[str, ...], tuple[int, int]]:
    """The model at ``path`` (a Keras model or an exported one), its class names and the
    (height, width) of the images it takes."""
    from tl_helpers.deploy.runtimes import is_exported_model, load_exported
    from tl_helpers.models import load_classifier

    if is_exported_model(path):
        exported = load_exported(path)
        return exported, tuple(exported.class_names), exported.image_size
    loaded = load_classifier(path)
    return loaded.model, tuple(loaded.class_names), loaded.image_size
