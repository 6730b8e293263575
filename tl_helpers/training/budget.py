"""What transfer buys, measured: a small CNN trained from scratch against feature extraction,
each given the same number of seconds on this machine, validation accuracy recorded against the
time elapsed since the photos were first read.

Feature extraction's clock includes its cold pass over the photos (features are computed again,
not read from the cache), so both recipes pay for decoding and for every forward pass they make.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras

from tl_helpers.backbones import DEFAULT_BACKBONE, backbone_size
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import DatasetSplits
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_positive
from tl_helpers.models import augmentation_block, compile_classifier, output_layer
from tl_helpers.training.features import extract_features
from tl_helpers.training.recipes import set_seeds, train_head

__all__ = [
    "AccuracyOverTime",
    "TimeBudget",
    "build_small_cnn",
    "feature_extraction_over_time",
    "train_from_scratch",
]


@dataclass
class AccuracyOverTime:
    """Validation accuracy after each epoch, against seconds since the recipe started."""

    name: str
    budget_s: float
    seconds: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    start_s: float = 0.0  # seconds spent before the first epoch (feature extraction's pass)

    def within_budget(self) -> float:
        """The accuracy of the last epoch that ended inside the budget (0.0 if none did)."""
        inside = [a for s, a in zip(self.seconds, self.validation_accuracy) if s <= self.budget_s]
        return inside[-1] if inside else 0.0


class TimeBudget(keras.callbacks.Callback):
    """Record elapsed seconds and validation accuracy after every epoch, and stop training once
    the budget is spent. ``already`` counts seconds spent before training began."""

    def __init__(self, record: AccuracyOverTime, already: float = 0.0) -> None:
        super().__init__()
        self.record = record
        self.already = already
        self._start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not logs or "val_accuracy" not in logs:
            raise CourseError("TimeBudget needs validation data and an 'accuracy' metric")
        elapsed = self.already + time.perf_counter() - self._start
        self.record.seconds.append(elapsed)
        self.record.validation_accuracy.append(float(logs["val_accuracy"]))
        if elapsed >= self.record.budget_s:
            self.model.stop_training = True


def build_small_cnn(
    num_classes: int, image_size: int = 160, seed: int = DEFAULT_SEED
) -> keras.Model:
    """A small convolutional network with random weights (four conv-pool stages, 0.4 M
    parameters), the kind a from-scratch tutorial trains: augmentation, rescaling to 0-1,
    convolutions, global pooling, dropout, the course's output layer. Compiled, ready to fit."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = augmentation_block(seed=seed)(inputs)
    x = keras.layers.Rescaling(1 / 255)(x)
    for stage, filters in enumerate((32, 64, 128, 256)):
        init = keras.initializers.HeNormal(seed=seed + stage)
        x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=init)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3, seed=seed)(x)
    model = keras.Model(inputs, output_layer(num_classes, seed)(x), name="small_cnn_from_scratch")
    return compile_classifier(model, 1e-3)


def train_from_scratch(
    splits: DatasetSplits,
    *,
    budget_s: float,
    image_size: int = 160,
    batch_size: int = 32,
    seed: int = DEFAULT_SEED,
) -> AccuracyOverTime:
    """Train ``build_small_cnn`` on the training photos until ``budget_s`` seconds are spent
    (the epoch running when the budget runs out is finished and recorded after it)."""
    check_positive("budget_s", budget_s, " of seconds")
    set_seeds(seed)
    model = build_small_cnn(len(splits.class_names), image_size, seed)
    record = AccuracyOverTime(f"small CNN from scratch ({image_size}px)", budget_s)
    size = (image_size, image_size)
    model.fit(
        make_dataset(splits.train, image_size=size, batch_size=batch_size, shuffle=True, seed=seed),
        validation_data=make_dataset(splits.validation, image_size=size, batch_size=64),
        epochs=10_000,  # the budget stops it
        callbacks=[TimeBudget(record)],
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
    )
    return record


def feature_extraction_over_time(
    splits: DatasetSplits,
    *,
    budget_s: float,
    backbone: str = DEFAULT_BACKBONE,
    image_size: int | None = None,
    seed: int = DEFAULT_SEED,
) -> AccuracyOverTime:
    """Feature extraction timed from the photos: a cold pass of the frozen base over train and
    validation (the cache is neither read nor written), then a head until the budget is spent
    or early stopping ends it."""
    check_positive("budget_s", budget_s, " of seconds")
    start = time.perf_counter()
    train, validation = [
        extract_features(backbone, split, image_size=image_size, use_cache=False, verbose=False)
        for split in (splits.train, splits.validation)
    ]
    extraction = time.perf_counter() - start
    height, _ = backbone_size(backbone, image_size)  # None: the backbone's own size
    record = AccuracyOverTime(
        f"feature extraction ({backbone}, {height}px)", budget_s, start_s=extraction
    )
    train_head(
        train,
        validation,
        len(splits.class_names),
        seed=seed,
        verbose=False,
        callbacks=[TimeBudget(record, already=extraction)],
    )
    return record
