"""The frozen pass split across devices and workers.

The pass over every photo is the expensive part of feature extraction and fast fine-tuning, and
it needs no synchronisation: each photo's features depend on that photo alone. So

- on one machine with several devices (``MirroredStrategy``), each batch is split across them:
  a copy of the frozen model lives on every device and ``predict`` joins the results in order;
- with several workers (``MultiWorkerMirroredStrategy``), each worker computes the photos of its
  shard, chosen by a hash of the file name (deterministic, disjoint, complete: every machine
  computes the same assignment without talking to the others), and writes them beside the cache
  entry; the chief (worker 0) waits for every shard, puts the rows back in the split's order,
  writes the ordinary cache entry and removes the shards; the other workers read that entry.
  The workers therefore need a shared cache folder (``TL_CACHE_DIR``) and the photos at the same
  paths: the cache key includes each file's path, size and modification time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import config
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.storage import read_arrays, save_arrays
from tl_helpers.training.strategy import Worker, current_worker

__all__ = [
    "SHARD_WAIT_S",
    "frozen_copy",
    "frozen_pass",
    "merge_shards",
    "shard_of",
    "shard_path",
    "shard_positions",
    "sharded_pass",
]

SHARD_WAIT_S = 3600.0  # how long the chief waits for a shard, and a worker for the merged entry
_POLL_S = 0.2


def shard_of(path: str | Path, count: int) -> int:
    """Which of ``count`` workers computes ``path``: a hash of its class folder and file name,
    so that machines mounting the photos at different roots still agree."""
    name = "/".join(Path(path).parts[-2:])
    return int(hashlib.sha256(name.encode()).hexdigest()[:12], 16) % count


def shard_positions(split: Split, worker: Worker) -> np.ndarray:
    """Positions (in the split's order) of the files that ``worker`` computes."""
    return np.array(
        [i for i, path in enumerate(split.files) if shard_of(path, worker.count) == worker.index],
        dtype=np.int64,
    )


def shard_path(path: Path, index: int, count: int) -> Path:
    """Where worker ``index`` of ``count`` writes its part of the cache entry ``path``."""
    return path.with_name(f"{path.stem}.shard-{index}-of-{count}.npz")


def merge_shards(shards: list[dict[str, np.ndarray]], rows: int) -> dict[str, np.ndarray]:
    """One array per name with every shard's rows at their ``positions``: the split's order.
    Refuses shards that leave a row out or give one twice."""
    counts = np.zeros(rows, dtype=np.int64)
    for shard in shards:
        np.add.at(counts, shard["positions"], 1)
    if not np.all(counts == 1):
        missing, doubled = int(np.sum(counts == 0)), int(np.sum(counts > 1))
        raise CourseError(
            f"the workers' shards do not cover the split exactly ({missing} rows missing, "
            f"{doubled} given twice): do all workers see the same files?"
        )
    filled = [s for s in shards if len(s["positions"])]
    merged: dict[str, np.ndarray] = {}
    if not filled:
        return merged
    for name in (n for n in filled[0] if n != "positions"):
        first = filled[0][name]
        # A worker whose values overflowed float16 stored float32: keep the wider type.
        dtype = np.result_type(*(shard[name].dtype for shard in filled))
        merged[name] = np.empty((rows, *first.shape[1:]), dtype=dtype)
        for shard in filled:
            merged[name][shard["positions"]] = shard[name]
    return merged


def frozen_copy(model: keras.Model, strategy: tf.distribute.Strategy | None) -> keras.Model:
    """What runs this worker's share of a frozen pass: with several devices on this machine, a
    copy whose variables live on every device of ``strategy``, so that ``predict`` splits each
    batch across them; else ``model`` itself, or a plain copy of it if it was built in a
    strategy's scope (the recipe's base is), since each worker runs its share alone."""
    worker = current_worker(strategy)
    if strategy is None or strategy.num_replicas_in_sync <= worker.count:
        # One device per worker: nothing to split.
        return _copy_in(tf.distribute.get_strategy(), model) if _distributed(model) else model
    local = strategy
    if worker.count > 1:  # a worker with several devices: mirror over its own
        local = tf.distribute.MirroredStrategy(strategy.extended.worker_devices)
    return _copy_in(local, model)


def _distributed(model: keras.Model) -> bool:
    """Whether ``model``'s variables were made in a strategy's scope (one copy per device)."""
    return any(
        isinstance(weight.value, tf.distribute.DistributedValues) for weight in model.weights
    )


def _copy_in(strategy: tf.distribute.Strategy, model: keras.Model) -> keras.Model:
    """``model`` with the same weights, its variables made in ``strategy``'s scope."""
    with strategy.scope():
        copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _wait_and_read(path: Path, names: tuple[str, ...], timeout_s: float, who: str) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        if path.exists():
            arrays = read_arrays(path, names)
            if arrays is not None:
                return arrays
        if time.monotonic() > deadline:
            raise CourseError(
                f"{who} has not written {path.name} within {timeout_s:.0f} s: is it running the "
                f"same command, and do all workers share the cache folder ({config.cache_dir()}) "
                "and see the photos at the same paths?"
            )
        time.sleep(_POLL_S)


def sharded_pass(
    split: Split,
    path: Path,
    worker: Worker,
    compute: Callable[[Split], dict[str, np.ndarray]],
    names: tuple[str, ...],
    timeout_s: float = SHARD_WAIT_S,
) -> dict[str, np.ndarray]:
    """The arrays ``names`` for every file of ``split``, in its order: ``compute`` runs on this
    worker's shard only, the chief merges the shards into the cache entry ``path``."""
    positions = shard_positions(split, worker)
    part = Split(
        tuple(split.files[i] for i in positions), tuple(split.labels[i] for i in positions)
    )
    arrays = compute(part) if len(part) else {}
    save_arrays(shard_path(path, worker.index, worker.count), positions=positions, **arrays)
    if not worker.is_chief:
        return _wait_and_read(path, names, timeout_s, "the chief (worker 0)")
    shards = [
        _wait_and_read(shard_path(path, i, worker.count), (), timeout_s, f"worker {i}")
        for i in range(worker.count)
    ]
    merged = merge_shards(shards, len(split))
    save_arrays(path, **merged)
    for i in range(worker.count):
        shard_path(path, i, worker.count).unlink(missing_ok=True)
    return merged


def frozen_pass(
    split: Split,
    path: Path | None,
    strategy: tf.distribute.Strategy | None,
    compute: Callable[[Split], dict[str, np.ndarray]],
    names: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """``compute`` over ``split`` and stored at the cache entry ``path`` (``None``: not stored):
    in this process alone, or shared across the workers of ``strategy`` (``sharded_pass``),
    which meet through the cache and so need one."""
    worker = current_worker(strategy)
    if worker.count == 1:
        arrays = compute(split)
        if path is not None:
            save_arrays(path, **arrays)
        return arrays
    if path is None:
        raise CourseError("workers share the frozen pass through the cache: keep use_cache=True")
    return sharded_pass(split, path, worker, compute, names)
