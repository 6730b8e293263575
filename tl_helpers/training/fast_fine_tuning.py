"""Fast fine-tuning: cache what the frozen bottom of the base computes, train only the top.

When only the top blocks of the base are unfrozen (and BatchNorm stays in inference mode),
every layer *below* them computes exactly the same thing in every epoch. That is the same
observation that makes cached feature extraction fast, one level down: run the frozen bottom
once, store its output (the "activations" entering the first unfrozen block), and train the
top blocks plus the head on the stored arrays. On a laptop CPU that turns a fine-tuning epoch of
minutes into one of seconds to a minute, with the same trainable weights as ``fine_tune``.

What it gives up: pixel-level augmentation (rotation, zoom, colour) would change the bottom's
output, so it cannot be cached. Two augmentations survive:
- mirroring, exactly: the activations of the mirrored images are computed and stored too;
- small translations: a random crop of the activation map, a few cells smaller than it.

The trained layers *are* the base's layers (the top model reuses them), so after training the
ordinary full classifier already holds the fine-tuned weights: evaluate, save and predict on
images as usual.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tl_helpers import config
from tl_helpers.backbones import blocks as backbone_blocks
from tl_helpers.config import DEFAULT_SEED
from tl_helpers.data.pipelines import make_dataset
from tl_helpers.data.splits import Split
from tl_helpers.errors import CourseError
from tl_helpers.models import compile_classifier, unfreeze_top
from tl_helpers.models.build import find_backbone, is_binary
from tl_helpers.training.features import FeatureSet, cache_key
from tl_helpers.training.recipes import TrainingHistory, _callbacks, set_seeds


@dataclass
class ActivationSet:
    """What the frozen bottom of the base computes for one split (and its mirror images)."""

    activations: np.ndarray  # (n, h, w, channels), float16 when that is exact enough, else float32
    flipped: np.ndarray | None  # the same for the left-right mirrored images, or None
    labels: np.ndarray  # (n,) int32
    files: tuple[Path, ...]
    cut: str  # name of the first layer above the cut
    from_cache: bool = False
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.labels)


def split_backbone(base: keras.Model, blocks_count: int) -> tuple[keras.Model, keras.Model]:
    """Cut a backbone in two before its last ``blocks_count`` blocks: ``(bottom, top)``.

    ``bottom`` maps images to the tensor entering the first of those blocks; ``top`` maps that
    tensor (any height and width) to the base's output. ``top`` reuses the base's own layers, so
    training it trains the base. ``top(bottom(x))`` equals ``base(x)``.
    """
    base_blocks = backbone_blocks(base)
    if not 1 <= blocks_count <= len(base_blocks):
        raise CourseError(f"{base.name} has {len(base_blocks)} blocks; blocks_count must be between 1 and {len(base_blocks)}, got {blocks_count}")
    block_name, first = base_blocks[-blocks_count]
    cut = base.layers[first].input
    if isinstance(cut, (list, tuple)):
        raise CourseError(f"cannot cut {base.name} before {block_name}: its first layer takes several inputs")
    # The name records where the cut is: it keys the activation cache.
    bottom = keras.Model(base.input, cut, name=f"{base.name}_below_{base.layers[first].name}")

    top = _replay(base, first, len(base.layers), base.output, f"{base.name}_top{blocks_count}")
    return bottom, top


def _replay(base: keras.Model, first: int, stop: int, output: keras.KerasTensor, name: str) -> keras.Model:
    """A model made of the base's own layers ``first..stop-1``, fed from a new input that stands
    for the tensor entering layer ``first``."""
    cut = base.layers[first].input
    if isinstance(cut, (list, tuple)):
        raise CourseError(f"cannot cut {base.name} before {base.layers[first].name}: it takes several inputs")
    section_input = keras.Input(shape=(None, None, cut.shape[-1]), name=f"{base.layers[first].name}_input")
    replayed: dict[int, keras.KerasTensor] = {id(cut): section_input}
    for layer in base.layers[first:stop]:
        sources = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        missing = [tensor.name for tensor in sources if id(tensor) not in replayed]
        if missing:
            raise CourseError(f"cannot cut {base.name} before {base.layers[first].name}: layer {layer.name} also reads {missing} from below the cut")
        inputs = [replayed[id(tensor)] for tensor in sources]
        replayed[id(layer.output)] = layer(inputs if isinstance(layer.input, (list, tuple)) else inputs[0])
    return keras.Model(section_input, replayed[id(output)], name=name)


def backbone_section(base: keras.Model, from_blocks: int, to_blocks: int) -> keras.Model:
    """The part of a backbone between two cuts: it maps the activations entering its top
    ``from_blocks`` blocks to those entering its top ``to_blocks`` blocks (``from_blocks >
    to_blocks``). Running it once over stored activations gives the activations of a higher cut
    without running the images through the bottom again."""
    base_blocks = backbone_blocks(base)
    if not len(base_blocks) >= from_blocks > to_blocks >= 1:
        raise CourseError(f"{base.name} has {len(base_blocks)} blocks; need {len(base_blocks)} >= from_blocks > to_blocks >= 1, "
                          f"got from_blocks={from_blocks}, to_blocks={to_blocks}")
    first, stop = base_blocks[-from_blocks][1], base_blocks[-to_blocks][1]
    return _replay(base, first, stop, base.layers[stop].input, f"{base.name}_blocks{from_blocks}to{to_blocks}")


def _compact(values: np.ndarray) -> np.ndarray:
    """float16 halves memory and disk; keep float32 where values would overflow it."""
    half = values.astype(np.float16)
    return half if np.isfinite(half).all() else values.astype(np.float32)


def extract_activations(
    bottom: keras.Model,
    split: Split,
    *,
    backbone: str,
    image_size: int | tuple[int, int],
    flips: bool = True,
    batch_size: int = 32,
    use_cache: bool = True,
    verbose: bool = True,
) -> ActivationSet:
    """Run the frozen bottom over a split once (and over its mirror images when ``flips``).

    Cached on disk like pooled features, keyed additionally by where the base was cut.
    """
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    labels = np.asarray(split.labels, dtype=np.int32)
    cut = bottom.name.rsplit("_below_", 1)[-1]
    key = f"{cache_key(backbone, 'imagenet', size, split)[:40]}-{bottom.name}-{'flips' if flips else 'plain'}"
    path = config.cache_dir() / "activations" / f"{key}.npz" if use_cache else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as stored:
            flipped = stored["flipped"] if flips else None
            return ActivationSet(stored["activations"], flipped, labels, split.files, cut, from_cache=True)

    start = time.perf_counter()
    plain, mirrored = [], []
    images = make_dataset(split, image_size=size, batch_size=batch_size, cache=False).map(lambda x, _y: x)
    progress = keras.utils.Progbar(len(split), unit_name="image") if verbose else None
    for batch in images:
        plain.append(_compact(bottom(batch, training=False).numpy()))
        if flips:
            mirrored.append(_compact(bottom(tf.image.flip_left_right(batch), training=False).numpy()))
        if progress is not None:
            progress.add(int(batch.shape[0]))
    activations = np.concatenate(plain)
    flipped = np.concatenate(mirrored) if flips else None
    seconds = time.perf_counter() - start
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, activations=activations, **({"flipped": flipped} if flips else {}))
        tmp.replace(path)
    return ActivationSet(activations, flipped, labels, split.files, cut, from_cache=False, seconds=seconds)


def _targets(labels: tf.Tensor, num_classes: int, binary: bool) -> tf.Tensor:
    return tf.cast(labels, tf.float32)[..., None] if binary else tf.one_hot(labels, num_classes)


def _as_bits(values: np.ndarray) -> np.ndarray:
    """float16 arrays travel through tf.data as their raw 16 bits (``_from_bits`` undoes it).

    Why: slicing a float16 tensor in a tf.data graph makes TensorFlow's oneDNN layer log an
    error-level notice ("oneDNN supports DT_HALF only on platforms with AVX-512") on most CPUs,
    which learners read as a failure; uint16 slices do not, and the round trip is exact."""
    return values.view(np.uint16) if values.dtype == np.float16 else values


def _from_bits(values: tf.Tensor) -> tf.Tensor:
    """float32 activations from what ``_as_bits`` stored."""
    if values.dtype == tf.uint16:
        values = tf.bitcast(values, tf.float16)
    return tf.cast(values, tf.float32)


def activation_dataset(
    activations: ActivationSet,
    num_classes: int,
    *,
    binary: bool,
    batch_size: int = 32,
    augment: bool = False,
    crop: int = 0,
    seed: int = DEFAULT_SEED,
) -> tf.data.Dataset:
    """Batches of ``(activations, targets)``; with ``augment``, shuffled and randomly mirrored
    (and cropped by ``crop`` cells), freshly drawn every epoch."""
    acts = activations.activations
    flipped = activations.flipped if activations.flipped is not None else acts
    dataset = tf.data.Dataset.from_tensor_slices((_as_bits(acts), _as_bits(flipped), activations.labels))
    if not augment:
        return (dataset.map(lambda a, _f, y: (_from_bits(a), _targets(y, num_classes, binary)))
                .batch(batch_size).prefetch(tf.data.AUTOTUNE))
    height, width, channels = acts.shape[1:]
    if crop and not 0 < crop < min(height, width):
        raise CourseError(f"crop must be smaller than the activation map ({height}x{width}), got {crop}")

    def draw(randomness: tf.Tensor, example: tuple) -> tuple[tf.Tensor, tf.Tensor]:
        plain, mirrored, label = example
        # Stateless draws seeded per element and per epoch: different every epoch, same every run.
        seed_pair = tf.stack([randomness, tf.constant(seed, tf.int64)])
        use_mirror = tf.random.stateless_uniform([], seed=seed_pair) < 0.5
        chosen = tf.where(use_mirror, _from_bits(mirrored), _from_bits(plain))
        if crop:
            chosen = tf.image.stateless_random_crop(chosen, [height - crop, width - crop, channels], seed=seed_pair + 1)
        return chosen, _targets(label, num_classes, binary)

    dataset = dataset.shuffle(len(activations), seed=seed, reshuffle_each_iteration=True)
    randomness = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(randomness, dataset).map(draw).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def pooled_features(top: keras.Model, activations: ActivationSet, *, mirrored: bool = False, batch_size: int = 128) -> FeatureSet:
    """Finish the forward pass over stored activations and pool: the same features
    ``extract_features`` gives, without running the bottom again. With ``mirrored``, the features
    of the mirror images are appended (twice the rows): free augmentation for a head."""
    pooled = keras.Sequential([top, keras.layers.GlobalAveragePooling2D()])
    parts = [activations.activations] + ([activations.flipped] if mirrored else [])
    if mirrored and activations.flipped is None:
        raise CourseError("these activations were extracted without mirror images (flips=False)")
    features = np.concatenate([pooled.predict(part.astype(np.float32), batch_size=batch_size, verbose=0) for part in parts])
    copies = len(parts)
    return FeatureSet(features.astype(np.float32), np.tile(activations.labels, copies), activations.files * copies,
                      from_cache=activations.from_cache)


def fast_fine_tune(
    model: keras.Model,
    train: ActivationSet,
    validation: ActivationSet,
    *,
    blocks: int,
    learning_rate: float = 1e-4,
    epochs: int = 8,
    patience: int = 3,
    batch_size: int = 32,
    crop: int = 2,
    label_smoothing: float = 0.1,
    history: TrainingHistory | None = None,
    seed: int = DEFAULT_SEED,
    verbose: bool = True,
) -> TrainingHistory:
    """Fine-tune the top ``blocks`` blocks of a classifier's base (and its head) on cached
    activations cut before those blocks. Like ``fine_tune``: BatchNorm stays frozen and in
    inference mode, early stopping on validation loss keeps the best epoch, and the model is
    recompiled at the end so it is ready to evaluate, save and predict on images.

    ``crop`` (cells, at most a quarter of the map) shifts the stored activation map at random;
    ``label_smoothing`` softens the targets, which slows memorising a small training set."""
    if epochs < 1:
        raise CourseError(f"epochs must be at least 1, got {epochs}")
    layer_names = [layer.name for layer in model.layers]
    if "pool" not in layer_names:
        raise CourseError("fast_fine_tune needs a classifier with a global-average-pooling head (build_classifier(head='pooling'))")
    base = find_backbone(model)
    bottom, top = split_backbone(base, blocks)
    cut = bottom.name.rsplit("_below_", 1)[-1]
    if train.cut != cut or validation.cut != cut:
        raise CourseError(f"the activations were cut before {train.cut}, but blocks={blocks} cuts before {cut}: "
                          f"extract them with split_backbone(base, {blocks})")

    # Shifts of more than a quarter of the map would cut away too much of a small map.
    crop = min(crop, min(train.activations.shape[1:3]) // 4)
    set_seeds(seed)
    binary = is_binary(model)
    num_classes = 2 if binary else int(model.output_shape[-1])
    # A training model made of the same layer objects: the top blocks, then the classifier's head.
    inputs = keras.Input(shape=(None, None, train.activations.shape[-1]), name="activations")
    x = top(inputs, training=False)  # BatchNorm stays in inference mode because unfreeze_top keeps it frozen
    for name in ("pool", "dropout", "probability" if binary else "probabilities"):
        if name in layer_names:
            x = model.get_layer(name)(x)
    trainer = keras.Model(inputs, x, name="fast_fine_tuning")

    unfrozen = unfreeze_top(model, blocks_count=blocks)
    loss = (keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing) if binary
            else keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing))
    accuracy = keras.metrics.BinaryAccuracy(name="accuracy") if binary else keras.metrics.CategoricalAccuracy(name="accuracy")
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=[accuracy])
    if verbose:
        height, width = train.activations.shape[1:3]
        print(f"unfroze {len(unfrozen)} layers in the top {blocks} blocks; training them on cached {height}x{width} "
              f"activations with learning rate {learning_rate:g}")
    fitted = trainer.fit(
        activation_dataset(train, num_classes, binary=binary, batch_size=batch_size, augment=True, crop=crop, seed=seed),
        validation_data=activation_dataset(validation, num_classes, binary=binary, batch_size=128),
        epochs=epochs,
        callbacks=_callbacks(patience, verbose, "fine-tune "),
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
    )
    # The classifier shares every trained layer; compiling it records the new trainable state.
    compile_classifier(model, learning_rate)
    return (history or TrainingHistory()).extend(fitted.history, fine_tuning=True)
