"""Choose notebook 04's flowers recipe on the validation split only.

    TL_MIRROR=../shared/mirror python benchmarks/choose_flowers_recipe.py [--json tl_helpers/records/flowers_recipe.json]

Candidates (efficientnet_lite0; label smoothing 0.1 and 2-cell crops fixed beforehand, not tuned):
image size 224 or 288; feature extraction alone, or fine-tuning the top 2 or 5 blocks at learning
rate 1e-4 or 3e-5 on cached activations (at most 8 epochs, early stopping on validation loss).
Each candidate is scored by the validation accuracy of the model it ends with (the epoch early
stopping restored, not the best epoch seen), and the simplest candidate within one validation
photo of the best is chosen: feature extraction before fine-tuning, 224 before 288 px, fewer
blocks before more, the lower learning rate last. Notebook 04 teaches fine-tuning even when it is
not the choice, so the record also names the fine-tuning candidate with the best validation
accuracy at the chosen image size (the simplest on a tie). The test split is never read;
notebook 04 and ``flowers.py`` evaluate on it once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SIZES = (224, 288)
FINE_TUNING = ((2, 1e-4), (5, 1e-4), (5, 3e-5))  # (blocks, learning rate), simplest first
MAX_BLOCKS = 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--json", help="where to write every candidate's validation numbers and the choice"
    )
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()

    from tl_helpers.backbones import build_backbone
    from tl_helpers.data import dataset_splits, fetch
    from tl_helpers.evaluation import evaluate
    from tl_helpers.training import (
        ActivationSet,
        backbone_section,
        classifier_from_head,
        extract_activations,
        fast_fine_tune,
        pooled_features,
        split_backbone,
        train_head,
    )

    backbone = "efficientnet_lite0"
    splits = dataset_splits("flowers", fetch("flowers", verbose=False))
    classes = len(splits.class_names)
    candidates: list[dict] = []

    def validation_accuracy(model) -> float:
        """The finished image classifier on the validation photos, read as notebook 04 reads them."""
        return evaluate(model, splits.validation).accuracy

    for size in SIZES:
        start = time.perf_counter()
        base = build_backbone(backbone, (size, size))
        parts = split_backbone(base, MAX_BLOCKS)
        train = extract_activations(parts, splits.train, verbose=False)
        validation = extract_activations(parts, splits.validation, flips=False, verbose=False)
        head, _ = train_head(
            pooled_features(parts.top, train, mirrored=True),
            pooled_features(parts.top, validation),
            classes,
            verbose=False,
        )
        accuracy = validation_accuracy(
            classifier_from_head(head, backbone, splits.class_names, size)
        )
        candidates.append(
            {
                "image_size": size,
                "blocks": 0,
                "learning_rate": None,
                "validation_accuracy": accuracy,
                "seconds": time.perf_counter() - start,
            }
        )
        print(f"{size} px, feature extraction: validation accuracy {accuracy:.4f}", flush=True)
        for blocks, learning_rate in FINE_TUNING:
            start = time.perf_counter()
            if blocks == MAX_BLOCKS:
                tuned_train, tuned_validation = train, validation
            else:  # turn the stored activations into those of the higher cut instead of rerunning the bottom
                section = backbone_section(base, MAX_BLOCKS, blocks)
                cut = split_backbone(base, blocks).cut

                def convert(
                    acts: ActivationSet, flips: bool, section=section, cut=cut
                ) -> ActivationSet:
                    def run(values):
                        return section.predict(values.astype("float32"), batch_size=64, verbose=0)

                    flipped = run(acts.flipped) if flips else None
                    return ActivationSet(
                        run(acts.activations), flipped, acts.labels, acts.files, cut
                    )

                tuned_train, tuned_validation = convert(train, True), convert(validation, False)
            model = classifier_from_head(head, backbone, splits.class_names, size)
            history = fast_fine_tune(
                model,
                tuned_train,
                tuned_validation,
                blocks=blocks,
                learning_rate=learning_rate,
                epochs=args.epochs,
                verbose=False,
            )
            accuracy = validation_accuracy(model)
            candidates.append(
                {
                    "image_size": size,
                    "blocks": blocks,
                    "learning_rate": learning_rate,
                    "validation_accuracy": accuracy,
                    "epochs": history.epochs - history.fine_tune_start,
                    "seconds": time.perf_counter() - start,
                }
            )
            print(
                f"{size} px, fine-tuning {blocks} blocks at {learning_rate:g}: validation accuracy {accuracy:.4f} "
                f"({history.epochs - history.fine_tune_start} epochs, {time.perf_counter() - start:.0f} s)",
                flush=True,
            )

    best = max(c["validation_accuracy"] for c in candidates)
    one_photo = 1 / len(splits.validation)
    # Candidates are listed simplest first within a size; order by simplicity across sizes too.
    simplest_first = sorted(
        candidates,
        key=lambda c: (c["blocks"] > 0, c["image_size"], c["blocks"], -(c["learning_rate"] or 0)),
    )
    chosen = next(c for c in simplest_first if c["validation_accuracy"] >= best - one_photo - 1e-12)
    tuned = [c for c in simplest_first if c["blocks"] and c["image_size"] == chosen["image_size"]]
    fine_tuning = max(
        tuned, key=lambda c: c["validation_accuracy"]
    )  # max keeps the first, the simplest, on a tie
    print(
        f"best validation accuracy {best:.4f}; chosen (simplest within one photo, {one_photo:.4f}): {chosen}"
    )
    print(f"fine-tuning candidate at {chosen['image_size']} px: {fine_tuning}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "validation_images": len(splits.validation),
                    "train_images": len(splits.train),
                    "candidates": candidates,
                    "chosen": chosen,
                    "fine_tuning_at_chosen_size": fine_tuning,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
