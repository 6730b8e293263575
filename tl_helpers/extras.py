"""Optional libraries: what ``pip install "tl_helpers[course]"`` adds to the helpers.

The package itself needs TensorFlow, Keras, NumPy, Pillow and matplotlib. The notebooks' widgets
and the deployment runtimes and converters come with the ``course`` extra, so a practitioner who
only trains from the command line does not install them. A missing one is reported as what to
install, not as an ``ImportError`` from deep inside a function.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tl_helpers.errors import CourseError

__all__ = ["OPTIONAL", "MissingExtraError", "require"]

# Top-level module -> (the distribution pip installs, the extra that brings it).
OPTIONAL = {
    "ai_edge_litert": ("ai-edge-litert", "course"),
    "ipywidgets": ("ipywidgets", "course"),
    "onnx": ("onnx", "course"),
    "onnxruntime": ("onnxruntime", "course"),
    "tf2onnx": ("tf2onnx", "course"),
}


class MissingExtraError(CourseError, ImportError):
    """An optional library that a function needs is not installed."""


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or a ``MissingExtraError`` naming ``purpose``, the package to install
    and the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        if top not in OPTIONAL or error.name not in (top, module):
            raise  # not a missing optional library, but a broken one: show the real error
        distribution, extra = OPTIONAL[top]
        raise MissingExtraError(
            f"{purpose} needs {distribution}, which is not installed here: "
            f'pip install "tl_helpers[{extra}]" (or pip install {distribution})'
        ) from error
