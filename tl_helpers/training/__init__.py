"""Training: cached feature extraction, head training, end-to-end fitting, fine-tuning and fast
fine-tuning on cached activations."""

from tl_helpers.training.activations import ActivationSet, activation_dataset, extract_activations
from tl_helpers.training.budget import (
    AccuracyOverTime,
    TimeBudget,
    build_small_cnn,
    feature_extraction_over_time,
    train_from_scratch,
)
from tl_helpers.training.choosing import (
    Candidate,
    candidates_table,
    choose_candidate,
    frozen_pass_ms,
    measure_candidate,
    pareto_front,
)
from tl_helpers.training.cutting import BackboneParts, backbone_section, split_backbone
from tl_helpers.training.fast_fine_tuning import fast_fine_tune, pooled_features
from tl_helpers.training.features import FeatureSet, cache_key, extract_features, pooled_backbone
from tl_helpers.training.folder import (
    FolderTraining,
    check_training_folder,
    train_folder,
    train_splits,
)
from tl_helpers.training.recipes import (
    EpochLine,
    FeatureExtractionResult,
    TrainingHistory,
    balanced_class_weights,
    classifier_from_head,
    feature_extraction,
    fine_tune,
    fit,
    set_seeds,
    train_head,
    training_callbacks,
)
from tl_helpers.training.strategy import distribution_strategy

__all__ = [
    "AccuracyOverTime",
    "TimeBudget",
    "build_small_cnn",
    "feature_extraction_over_time",
    "train_from_scratch",
    "Candidate",
    "candidates_table",
    "choose_candidate",
    "frozen_pass_ms",
    "measure_candidate",
    "pareto_front",
    "ActivationSet",
    "BackboneParts",
    "EpochLine",
    "FeatureExtractionResult",
    "FeatureSet",
    "FolderTraining",
    "TrainingHistory",
    "activation_dataset",
    "backbone_section",
    "balanced_class_weights",
    "cache_key",
    "check_training_folder",
    "classifier_from_head",
    "distribution_strategy",
    "extract_activations",
    "extract_features",
    "fast_fine_tune",
    "feature_extraction",
    "fine_tune",
    "fit",
    "pooled_backbone",
    "pooled_features",
    "set_seeds",
    "split_backbone",
    "train_folder",
    "train_head",
    "train_splits",
    "training_callbacks",
]
