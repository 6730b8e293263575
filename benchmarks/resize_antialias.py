"""Benchmark: resize with or without antialiasing, decided on the validation splits only.

    TL_MIRROR=../shared/mirror python benchmarks/resize_antialias.py [--image-size 224] [--json out.json]

For each course dataset and each setting, the frozen efficientnet_lite0 base runs over the
training and validation photos resized that way, a head trains on the pooled features (the
course's ``train_head``, early stopping on validation loss), and the restored head is scored on
the validation photos. The test split is never read. The course keeps the setting with the higher
validation accuracy summed over both datasets; on a tie, the one without antialiasing (the
standard ``tf.image.resize`` and ``image_dataset_from_directory`` behaviour, and cheaper).

Also reported: how far the two resizes are apart in pixels (mean absolute difference, 0-255).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from common import finish

DATASETS = ("cats_vs_dogs", "flowers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--json")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.data.decode import decode_and_resize, exif_orientation
    from tl_helpers.models import probabilities
    from tl_helpers.training import FeatureSet, pooled_backbone, train_head

    size = (args.image_size, args.image_size)
    model = pooled_backbone("efficientnet_lite0", size)

    def images(split, antialias: bool) -> tf.data.Dataset:
        paths = [os.fspath(p) for p in split.files]
        orientations = [exif_orientation(p) for p in split.files]
        dataset = tf.data.Dataset.from_tensor_slices((paths, orientations))
        dataset = dataset.map(
            lambda p, o: decode_and_resize(p, size, o, antialias=antialias),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return dataset.batch(32).map(lambda x: tf.cast(x, tf.float32)).prefetch(tf.data.AUTOTUNE)

    results: dict = {"image_size": args.image_size, "datasets": {}}
    totals = {False: 0.0, True: 0.0}
    for name in DATASETS:
        splits = dataset_splits(name, fetch(name, verbose=False))
        scores = {}
        for antialias in (False, True):
            start = time.perf_counter()
            sets = {
                part: FeatureSet(
                    model.predict(images(splits[part], antialias), verbose=0),
                    np.asarray(splits[part].labels, np.int32),
                    splits[part].files,
                )
                for part in ("train", "validation")
            }
            head, history = train_head(
                sets["train"], sets["validation"], len(splits.class_names), verbose=False
            )
            predicted = probabilities(head, sets["validation"].features).argmax(axis=1)
            accuracy = float(np.mean(predicted == sets["validation"].labels))
            scores[antialias] = {
                "validation_accuracy": accuracy,
                "validation_images": len(splits.validation),
                "head_epochs": history.epochs,
                "seconds": time.perf_counter() - start,
            }
            totals[antialias] += accuracy
            print(
                f"{name:<13} antialias={str(antialias):<5} validation accuracy {accuracy:.4f} "
                f"({int(round(accuracy * len(splits.validation)))} of {len(splits.validation)}), {time.perf_counter() - start:.0f} s"
            )
        sample = [os.fspath(p) for p in splits.validation.files[:100]]
        difference = np.mean(
            [
                np.abs(
                    decode_and_resize(p, size, antialias=True).numpy().astype(float)
                    - decode_and_resize(p, size, antialias=False).numpy().astype(float)
                ).mean()
                for p in sample
            ]
        )
        print(
            f"{name:<13} mean absolute pixel difference between the two resizes: {difference:.2f}"
        )
        results["datasets"][name] = {
            "off": scores[False],
            "on": scores[True],
            "mean_abs_pixel_difference": float(difference),
        }
    chosen = totals[True] > totals[False]
    results["chosen_antialias"] = chosen
    print(f"chosen on validation: antialias={chosen}")

    from tl_helpers.data.decode import RESIZE_ANTIALIAS

    return finish(
        results,
        {
            f"the pipeline's RESIZE_ANTIALIAS ({RESIZE_ANTIALIAS}) is the validation choice": RESIZE_ANTIALIAS
            == chosen
        },
        args.json,
    )


if __name__ == "__main__":
    sys.exit(main())
