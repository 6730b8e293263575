"""Models: classifier heads on pretrained bases, freezing and fine-tuning rules, save and load."""

from tl_helpers.models.build import (
    ClassLabels,
    augmentation_block,
    build_classifier,
    class_names_of,
    class_probabilities,
    find_backbone,
    is_binary,
    loss_for,
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
from tl_helpers.models.saving import LoadedClassifier, ModelFileError, load_classifier, probabilities, save_classifier

__all__ = [
    "ClassLabels",
    "LoadedClassifier",
    "ModelFileError",
    "ParameterCounts",
    "StaleCompileError",
    "augmentation_block",
    "build_classifier",
    "check_compiled",
    "class_names_of",
    "class_probabilities",
    "compile_classifier",
    "find_backbone",
    "freeze_base",
    "is_binary",
    "load_classifier",
    "loss_for",
    "parameter_counts",
    "probabilities",
    "save_classifier",
    "unfreeze_top",
]
