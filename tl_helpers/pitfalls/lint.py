"""A pattern checker for the mistakes of notebook 05 that show in the source code itself."""

from __future__ import annotations

import re

__all__ = ["lint_pitfalls"]

_RESCALE_255 = re.compile(
    r"(Rescaling\(\s*(scale\s*=\s*)?1\.?0*\s*/\s*255|rescale\s*=\s*1\.?0*\s*/\s*255)"
)
_APPLICATION = re.compile(r"applications\.\w+\s*\(|applications\.\w+\.\w+\s*\(")


def lint_pitfalls(source: str) -> dict[int, str]:
    """Look for the mistakes of notebook 05 that can be seen in Keras code itself: a map from
    pitfall number to the reason. A heuristic, not a proof: it reads patterns, it does not run
    anything, and it cannot see mistakes that only show in the numbers (10, 12)."""
    found: dict[int, str] = {}
    uses_application = bool(_APPLICATION.search(source))
    if _RESCALE_255.search(source) and uses_application:
        found[1] = (
            "pixels rescaled to 0..1 in front of a keras.applications model: none of them expects 0..1 (use its preprocess_input)"
        )
    if uses_application and not re.search(r"\.trainable\s*=\s*False", source):
        found[2] = "a pretrained base is used, but nothing is ever set to trainable = False"
    if re.search(r"\.trainable\s*=\s*True", source) and "BatchNormalization" not in source:
        found[3] = (
            "the base is unfrozen wholesale: in Keras 3 its BatchNorm layers then train too (freeze them)"
        )
    compiles = [m.start() for m in re.finditer(r"\.compile\(", source)]
    fits = [m.start() for m in re.finditer(r"\.fit\(", source)]
    for change in re.finditer(r"\.trainable\s*=", source):
        later_fit = [f for f in fits if f > change.start()]
        if compiles and later_fit and not any(change.start() < c < later_fit[0] for c in compiles):
            found[5] = "trainable changed after compile and before fit, with no compile in between"
    if re.search(r"Flatten\(", source) and uses_application:
        found[6] = "Flatten on a pretrained base's feature map: use GlobalAveragePooling2D"
    if (
        re.search(r"\.shuffle\(", source)
        and re.search(r"\.(take|skip)\(", source)
        and "reshuffle_each_iteration=False" not in source
    ):
        found[7] = (
            "shuffle then take/skip: the split is redrawn on every pass (reshuffle_each_iteration defaults to True)"
        )
    if re.search(r"map\([^\n]*(augment|Random\w+)[^\n]*\)\s*\.cache\(\)", source):
        found[8] = (
            "cache() after a random augmentation: every epoch replays the first epoch's images"
        )
    if "from_logits=True" in source and re.search(
        r"activation\s*=\s*['\"](sigmoid|softmax)['\"]", source
    ):
        found[9] = "from_logits=True with a sigmoid/softmax output: the activation is applied twice"
    label_mode = re.search(r"label_mode\s*=\s*['\"](\w+)['\"]", source)
    mode = (
        label_mode.group(1)
        if label_mode
        else ("int" if "image_dataset_from_directory" in source else None)
    )
    if mode == "int" and re.search(
        r"(?<!sparse_)categorical_crossentropy|(?<!Sparse)CategoricalCrossentropy", source
    ):
        found[11] = (
            "integer labels (label_mode='int', the default) with categorical_crossentropy: use sparse_categorical_crossentropy"
        )
    if mode == "categorical" and re.search(
        r"sparse_categorical_crossentropy|SparseCategoricalCrossentropy", source
    ):
        found[11] = (
            "one-hot labels (label_mode='categorical') with the sparse loss: use categorical_crossentropy"
        )
    return dict(sorted(found.items()))
