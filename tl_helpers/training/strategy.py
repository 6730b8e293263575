"""Where training runs: all visible GPUs through ``MirroredStrategy``, else the default device.

Build and compile models inside ``strategy.scope()`` so that their variables are mirrored on
each device; the recipes in ``training.recipes`` do this for you.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

__all__ = ["distribution_strategy"]


def distribution_strategy(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """``MirroredStrategy`` over ``devices`` (default: every GPU) when there are two or more,
    otherwise the default strategy (one CPU or one GPU, nothing to synchronise)."""
    if devices is None:
        devices = [device.name for device in tf.config.list_logical_devices("GPU")]
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(list(devices))
    return tf.distribute.get_strategy()
