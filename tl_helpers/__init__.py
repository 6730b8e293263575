"""Helpers for the transfer-learning course: data, backbones, models, training, evaluation, plots.

One namespace for the notebooks, the way d2l has one::

    import tl_helpers as tl

    tl.setup_notebook()
    root = tl.fetch("flowers")
    splits = tl.dataset_splits("flowers", root)
    result = tl.feature_extraction(splits)

Every name below is loaded on first use (``tl.fetch`` imports ``tl_helpers.data`` then), so
commands that do not need TensorFlow, such as ``python -m tl_helpers data info NAME``, start
instantly. Importing the package changes nothing else: logging, warnings, display hooks and
random seeds are set only by the functions that say so (``setup_notebook``, ``set_seeds``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it. The README's API table lists the same names.
_API: dict[str, str] = {
    # data: where photos come from and how they become tensors
    "fetch": "tl_helpers.data",
    "locate": "tl_helpers.data",
    "dataset_names": "tl_helpers.data",
    "get_spec": "tl_helpers.data",
    "dataset_splits": "tl_helpers.data",
    "list_images": "tl_helpers.data",
    "load_image": "tl_helpers.data.decode",
    "DatasetSplits": "tl_helpers.data",
    "Split": "tl_helpers.data",
    "make_dataset": "tl_helpers.data.pipelines",
    # backbones
    "DEFAULT_BACKBONE": "tl_helpers.backbones",
    "backbone_names": "tl_helpers.backbones",
    "build_backbone": "tl_helpers.backbones",
    "list_blocks": "tl_helpers.backbones",
    # models
    "build_classifier": "tl_helpers.models",
    "build_head": "tl_helpers.models",
    "classifier_parts": "tl_helpers.models",
    "find_backbone": "tl_helpers.models",
    "augmentation_block": "tl_helpers.models",
    "compile_classifier": "tl_helpers.models",
    "check_compiled": "tl_helpers.models",
    "StaleCompileError": "tl_helpers.models",
    "freeze_base": "tl_helpers.models",
    "unfreeze_top": "tl_helpers.models",
    "parameter_counts": "tl_helpers.models",
    "loss_for": "tl_helpers.models",
    "probabilities": "tl_helpers.models",
    "save_classifier": "tl_helpers.models",
    "load_classifier": "tl_helpers.models",
    # training
    "set_seeds": "tl_helpers.training",
    "FeatureSet": "tl_helpers.training",
    "extract_features": "tl_helpers.training",
    "train_head": "tl_helpers.training",
    "feature_extraction": "tl_helpers.training",
    "classifier_from_head": "tl_helpers.training",
    "balanced_class_weights": "tl_helpers.training",
    "fit": "tl_helpers.training",
    "fine_tune": "tl_helpers.training",
    "split_backbone": "tl_helpers.training",
    "extract_activations": "tl_helpers.training",
    "pooled_features": "tl_helpers.training",
    "backbone_section": "tl_helpers.training",
    "fast_fine_tune": "tl_helpers.training",
    "TrainRecipe": "tl_helpers.recipe",
    "TRAIN_DEFAULT": "tl_helpers.recipe",
    "TRAIN_FAST": "tl_helpers.recipe",
    "check_training_folder": "tl_helpers.training",
    "train_folder": "tl_helpers.training",
    "train_splits": "tl_helpers.training",
    "recipe_activations": "tl_helpers.training",
    "recipe_head": "tl_helpers.training",
    "recipe_fine_tune": "tl_helpers.training",
    "distribution_strategy": "tl_helpers.training",
    "current_worker": "tl_helpers.training",
    # choosing a backbone; what transfer buys
    "measure_candidate": "tl_helpers.training",
    "pareto_front": "tl_helpers.training",
    "choose_candidate": "tl_helpers.training",
    "candidates_table": "tl_helpers.training",
    "cross_validate_head": "tl_helpers.training",
    "CrossValidation": "tl_helpers.training",
    "choose_within_one_standard_error": "tl_helpers.training",
    "train_from_scratch": "tl_helpers.training",
    "feature_extraction_over_time": "tl_helpers.training",
    # evaluation
    "evaluate": "tl_helpers.evaluation",
    "report_from_probabilities": "tl_helpers.evaluation",
    "accuracy_interval": "tl_helpers.evaluation",
    "mcnemar_exact": "tl_helpers.evaluation",
    # deployment: export, exported models, an app's own prediction, measurements
    "export_classifier": "tl_helpers.deploy.export",
    "export_all": "tl_helpers.deploy.export",
    "load_exported": "tl_helpers.deploy.runtimes",
    "predict_photo": "tl_helpers.deploy.app",
    "measure_deployment": "tl_helpers.deploy.measure",
    "measure_exports": "tl_helpers.deploy.measure",
    "deployment_table": "tl_helpers.deploy.measure",
    "median_latency_ms": "tl_helpers.deploy.measure",
    # notebooks: set-up, widgets, errors
    "setup_notebook": "tl_helpers.notebook",
    "UploadPredictor": "tl_helpers.widgets",
    "MisclassificationBrowser": "tl_helpers.widgets",
    "CourseError": "tl_helpers.errors",
}
# Modules reachable as attributes: tl.plots.learning_curves(...), tl.pitfalls..., tl.config...
_MODULES = ("config", "exercises", "gradcam", "hosted", "pitfalls", "plots", "records", "widgets")

__all__ = sorted([*_API, *_MODULES, "__version__"])  # pyright: ignore[reportUnsupportedDunderAll]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"tl_helpers.{name}")
    else:
        raise AttributeError(f"module 'tl_helpers' has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what editors and pyright see; at run time __getattr__ loads these on use
    from tl_helpers import config, exercises, gradcam, hosted, pitfalls, plots, records, widgets
    from tl_helpers.backbones import DEFAULT_BACKBONE, backbone_names, build_backbone, list_blocks
    from tl_helpers.data import (
        DatasetSplits,
        Split,
        dataset_names,
        dataset_splits,
        fetch,
        get_spec,
        list_images,
        locate,
    )
    from tl_helpers.data.decode import load_image
    from tl_helpers.data.pipelines import make_dataset
    from tl_helpers.deploy.app import predict_photo
    from tl_helpers.deploy.export import export_all, export_classifier
    from tl_helpers.deploy.measure import (
        deployment_table,
        measure_deployment,
        measure_exports,
        median_latency_ms,
    )
    from tl_helpers.deploy.runtimes import load_exported
    from tl_helpers.errors import CourseError
    from tl_helpers.evaluation import (
        accuracy_interval,
        evaluate,
        mcnemar_exact,
        report_from_probabilities,
    )
    from tl_helpers.models import (
        StaleCompileError,
        augmentation_block,
        build_classifier,
        build_head,
        check_compiled,
        classifier_parts,
        compile_classifier,
        find_backbone,
        freeze_base,
        load_classifier,
        loss_for,
        parameter_counts,
        probabilities,
        save_classifier,
        unfreeze_top,
    )
    from tl_helpers.notebook import setup_notebook
    from tl_helpers.recipe import TRAIN_DEFAULT, TRAIN_FAST, TrainRecipe
    from tl_helpers.training import (
        CrossValidation,
        FeatureSet,
        backbone_section,
        balanced_class_weights,
        candidates_table,
        check_training_folder,
        choose_candidate,
        choose_within_one_standard_error,
        classifier_from_head,
        cross_validate_head,
        current_worker,
        distribution_strategy,
        extract_activations,
        extract_features,
        fast_fine_tune,
        feature_extraction,
        feature_extraction_over_time,
        fine_tune,
        fit,
        measure_candidate,
        pareto_front,
        pooled_features,
        recipe_activations,
        recipe_fine_tune,
        recipe_head,
        set_seeds,
        split_backbone,
        train_folder,
        train_from_scratch,
        train_head,
        train_splits,
    )
    from tl_helpers.widgets import MisclassificationBrowser, UploadPredictor
