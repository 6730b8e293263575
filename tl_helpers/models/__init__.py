"""Models: classifier heads on pretrained bases, freezing and fine-tuning rules, save and load,
and the one way to get class probabilities."""

from tl_helpers.models.build import (
    HEADS,
    ClassifierParts,
    ClassLabels,
    accuracy_metric,
    augmentation_block,
    build_classifier,
    build_head,
    class_names_of,
    classifier_parts,
    find_backbone,
    is_binary,
    loss_for,
    output_layer,
)
from tl_helpers.models.freezing import (
    ParameterCounts,
    StaleCompileError,
    check_compiled,
    compile_classifier,
    freeze_base,
    parameter_counts,
    unfreeze_top,
)
from tl_helpers.models.predict import input_size, probabilities
from tl_helpers.models.saving import (
    LoadedClassifier,
    ModelFileError,
    load_classifier,
    save_classifier,
)

__all__ = [
    "HEADS",
    "ClassLabels",
    "ClassifierParts",
    "LoadedClassifier",
    "ModelFileError",
    "ParameterCounts",
    "StaleCompileError",
    "accuracy_metric",
    "augmentation_block",
    "build_classifier",
    "build_head",
    "check_compiled",
    "class_names_of",
    "classifier_parts",
    "compile_classifier",
    "find_backbone",
    "freeze_base",
    "input_size",
    "is_binary",
    "load_classifier",
    "loss_for",
    "output_layer",
    "parameter_counts",
    "probabilities",
    "save_classifier",
    "unfreeze_top",
]
