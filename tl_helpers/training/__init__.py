"""Training: cached feature extraction, head training, end-to-end fitting, fine-tuning and fast
fine-tuning on cached activations."""

from tl_helpers.training.features import FeatureSet, cache_key, extract_features, pooled_backbone
from tl_helpers.training.fast_fine_tuning import (
    ActivationSet,
    activation_dataset,
    backbone_section,
    extract_activations,
    fast_fine_tune,
    pooled_features,
    split_backbone,
)
from tl_helpers.training.folder import FolderTraining, check_training_folder, train_folder
from tl_helpers.training.recipes import (
    EpochLine,
    FeatureExtractionResult,
    TrainingHistory,
    balanced_class_weights,
    build_head,
    classifier_from_head,
    feature_extraction,
    fine_tune,
    fit,
    predict_features_head,
    set_seeds,
    train_head,
)
from tl_helpers.training.strategy import distribution_strategy

__all__ = [
    "FolderTraining",
    "check_training_folder",
    "train_folder",
    "ActivationSet",
    "activation_dataset",
    "backbone_section",
    "extract_activations",
    "fast_fine_tune",
    "pooled_features",
    "split_backbone",
    "EpochLine",
    "FeatureExtractionResult",
    "FeatureSet",
    "TrainingHistory",
    "balanced_class_weights",
    "build_head",
    "cache_key",
    "classifier_from_head",
    "distribution_strategy",
    "extract_features",
    "feature_extraction",
    "fine_tune",
    "fit",
    "pooled_backbone",
    "predict_features_head",
    "set_seeds",
    "train_head",
]
