"""Helpers for the transfer-learning course: data, backbones, models, training, evaluation, plots.

Submodules are imported on use (``from tl_helpers.data import fetch``) so that commands which do
not need TensorFlow, such as ``python -m tl_helpers data info``, start instantly.
"""

__version__ = "0.1.0"
