"""The one cached frozen pass behind ``extract_features`` and ``extract_activations``: find the
entry by its key, else run the frozen network over the split, store the arrays, and say how long
it took.

The runtime is part of the key (``frozen_runtime``): it is chosen before anything is built, so a
warm cache costs no network at all; when ONNX Runtime turns out not to match Keras, the pass runs
on Keras and Keras's own entry is looked up first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers.data.splits import Split
from tl_helpers.storage import read_arrays, rows_match
from tl_helpers.training.frozen_runtime import FrozenRunner, chosen_runtime, frozen_runner
from tl_helpers.training.sharding import frozen_copy, frozen_pass

__all__ = ["CachedArrays", "FrozenNetwork", "cached_frozen_pass"]


@dataclass
class FrozenNetwork:
    """The network a pass runs: ``model`` (under a strategy with several devices here, a copy
    on every device) and ``runner``, what runs it one batch at a time on the chosen runtime."""

    model: keras.Model
    runner: FrozenRunner
    replicated: bool

    def run_over(self, images: tf.data.Dataset, verbose: bool) -> np.ndarray:
        """The network's outputs for every batch of ``images``, in order: Keras's ``predict``
        (which splits each batch across the devices of a copy), or the runner batch by batch."""
        if self.replicated or self.runner.runtime == "keras":
            return self.model.predict(images, verbose=1 if verbose else 0)
        progress = keras.utils.Progbar(None, unit_name="batch") if verbose else None
        outputs = []
        for batch in images:
            outputs.append(self.runner.run(batch.numpy()))
            if progress is not None:
                progress.add(1)
        return np.concatenate(outputs)


@dataclass
class CachedArrays:
    """What a cached pass gives: the arrays, whether they were read from the cache, and the
    seconds spent computing them (0 when read)."""

    arrays: dict[str, np.ndarray]
    from_cache: bool
    seconds: float = 0.0


def cached_frozen_pass(
    build: Callable[[], keras.Model],
    split: Split,
    *,
    names: tuple[str, ...],
    entries: Callable[[str], list[Path]],
    compute: Callable[[FrozenNetwork, Split], dict[str, np.ndarray]],
    runtime: str = "auto",
    strategy: tf.distribute.Strategy | None = None,
) -> CachedArrays:
    """``compute`` over ``split`` with the network ``build()`` returns, frozen, through the cache
    (a warm entry builds no network).

    ``entries(runtime)`` lists the cache files that hold this pass when run on ``runtime`` (empty:
    no cache), the one to write first; any of them holding ``names`` with a row per photo serves.
    With a ``strategy``, the pass is shared across its workers (``sharding.frozen_pass``)."""
    planned = chosen_runtime(runtime, len(split), several_devices=strategy is not None)
    rows = rows_match(len(split))
    listed: dict[str, list[Path]] = {}  # each runtime's key is computed once: it reads every photo

    def paths(runtime_name: str) -> list[Path]:
        if runtime_name not in listed:
            listed[runtime_name] = entries(runtime_name)
        return listed[runtime_name]

    def stored(runtime_name: str) -> dict[str, np.ndarray] | None:
        for path in paths(runtime_name):
            arrays = read_arrays(path, names, rows)
            if arrays is not None:
                return arrays
        return None

    if (found := stored(planned)) is not None:
        return CachedArrays(found, from_cache=True)
    network = build()
    model = frozen_copy(network, strategy)
    frozen = FrozenNetwork(model, frozen_runner(model, planned), model is not network)
    ran_on = frozen.runner.runtime
    if ran_on != planned and (found := stored(ran_on)) is not None:
        return CachedArrays(found, from_cache=True)
    start = time.perf_counter()
    target = next(iter(paths(ran_on)), None)
    arrays = frozen_pass(split, target, strategy, lambda part: compute(frozen, part), names)
    return CachedArrays(arrays, from_cache=False, seconds=time.perf_counter() - start)
