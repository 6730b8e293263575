"""One worker of the multi-process tests in ``test_distributed.py`` (run as a script, with
``TF_CONFIG`` set, or without it for the single-process reference).

    python tests/distributed_worker.py FOLDER OUT.npz STRATEGY [--backup DIR] [--epochs N] [--slow S]

STRATEGY is ``multi-worker`` (with ``TF_CONFIG``), ``auto``, or ``reference``: one process on one
device with the model built under a one-device ``MirroredStrategy``, the run the workers must
match (under any strategy Keras draws one pass of the shuffled order to build the model, so an
unwrapped run sees its epochs in another random order).

It runs the course's recipe step by step under ``distribution_strategy(STRATEGY)``: the frozen
passes over the folder (``extract_features`` and ``extract_activations``, shared across the
workers), a head on the pooled
features, then fast fine-tuning of the top block with the global batch the tests compare. It
writes the features, the fine-tuned weights and the epochs it ran to ``OUT.npz`` (each worker its
own file). ``--slow S`` sleeps S seconds after each batch from the second epoch on, so that a test
can kill a worker in the middle of an epoch.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tl_helpers.startup import import_tensorflow, quiet_training_logs  # noqa: E402

import_tensorflow()
quiet_training_logs()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tl_helpers.data.folders import folder_splits  # noqa: E402
from tl_helpers.recipe import TrainRecipe  # noqa: E402
from tl_helpers.training import (  # noqa: E402
    current_worker,
    distribution_strategy,
    extract_features,
    recipe_activations,
    recipe_fine_tune,
    recipe_head,
)

SIZE = 64
BATCH = 8  # the global batch: each of two workers computes 4 examples of every batch


class SlowBatches(keras.callbacks.Callback):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.epoch = seconds, 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch
        print(f"starting epoch {epoch + 1}", flush=True)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.epoch >= 1:
            print(f"finished batch {batch + 1} of epoch {self.epoch + 1}", flush=True)
            time.sleep(self.seconds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("out")
    parser.add_argument("strategy")
    parser.add_argument("--backup")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    args = parser.parse_args()

    if args.strategy == "reference":
        # One process, one device, but the model built under a strategy as the workers' is:
        # Keras then draws one pass of the data order to build it, as it does for them.
        strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    else:
        strategy = distribution_strategy(args.strategy, connect_timeout_s=60)
    worker = current_worker(strategy)
    print(
        f"worker {worker.index} of {worker.count}, {strategy.num_replicas_in_sync} replicas",
        flush=True,
    )
    splits = folder_splits(args.folder, validation_fraction=0.25)
    features = extract_features(
        "efficientnet_lite0", splits.train, image_size=SIZE, verbose=False, strategy=strategy
    )
    recipe = TrainRecipe(
        "efficientnet_lite0",
        SIZE,
        blocks=1,
        epochs=5,
        dropout=0.0,  # dropout draws its own masks on each replica: no exact comparison with it
        fine_tune_epochs=args.epochs,
        fine_tune_learning_rate=args.lr,
        crop=0,
    )
    frozen = recipe_activations(splits, recipe, strategy=strategy, verbose=False)
    model, _ = recipe_head(frozen, recipe, splits.class_names, verbose=False)
    start = np.concatenate([w.ravel() for w in model.get_weights()])
    history = recipe_fine_tune(
        model,
        frozen,
        recipe,
        verbose=True,
        backup_dir=args.backup,
        patience=args.epochs,
        batch_size=BATCH,
        callbacks=[SlowBatches(args.slow)] if args.slow else [],
    )
    train = frozen.train
    np.savez(
        args.out,
        features=features.features,
        activations=train.activations,
        flipped=train.flipped,
        start=start,
        weights=np.concatenate([w.ravel() for w in model.get_weights()]),
        epochs=np.array(history.epochs),
    )
    print(f"worker {worker.index} done after {history.epochs} epochs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
