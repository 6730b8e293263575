"""The course's rules for every training run, as Keras callbacks: early stopping on validation
loss with the best weights restored, one line per epoch, and a backup that lets a killed run
resume."""

from __future__ import annotations

import time
from pathlib import Path

import keras

from tl_helpers.training.strategy import current_worker

__all__ = ["EpochLine", "backup_callback", "training_callbacks"]


class EpochLine(keras.callbacks.Callback):
    """A compact one-line summary per epoch, for logs and notebooks."""

    def __init__(self, label: str = "") -> None:
        super().__init__()
        self.label = label

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        shown = "  ".join(
            f"{name} {value:.4f}"
            for name, value in (logs or {}).items()
            if not name.startswith("learning")
        )
        print(
            f"{self.label}epoch {epoch + 1:>3}  {shown}  ({time.perf_counter() - self._start:.1f}s)",
            flush=True,
        )


def training_callbacks(
    patience: int, verbose: bool, label: str = ""
) -> list[keras.callbacks.Callback]:
    """The course's rules for every training run: stop when the validation loss has not improved
    for ``patience`` epochs and restore the weights of its best epoch; with ``verbose``, one
    ``EpochLine`` per epoch."""
    stop = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, restore_best_weights=True
    )
    return [stop, EpochLine(label)] if verbose else [stop]


def backup_callback(backup_dir: str | Path, model: keras.Model) -> keras.callbacks.BackupAndRestore:
    """``BackupAndRestore`` in this worker's own folder under ``backup_dir``: the weights,
    optimizer state and epoch count are saved after every epoch, and a run that was killed
    resumes from the last finished epoch when started again with the same ``backup_dir`` (the
    folder is deleted when training ends). Early stopping starts counting afresh after a resume.
    Each worker keeps its own copy, so that two never write the same file."""
    worker = current_worker(model.distribute_strategy)
    return _WorkerBackup(str(Path(backup_dir) / f"worker-{worker.index}"))


class _WorkerBackup(keras.callbacks.BackupAndRestore):
    """Keras's backup in a worker's sub-folder; the shared parent goes too once it is empty."""

    def on_train_end(self, logs: dict | None = None) -> None:
        super().on_train_end(logs)
        try:
            Path(self.backup_dir).parent.rmdir()
        except OSError:
            pass  # another worker's backup is still there (it removes the folder when it ends)
