"""The training recipe as one value: every setting ``train_folder``, ``train_splits`` and the
``train`` command use, checked once, when the recipe is made.

Plain data, without TensorFlow, so the command line can show and check a recipe in milliseconds,
and a recipe can be written down, compared and changed (``dataclasses.replace``) like any value:

    recipe = tl.TrainRecipe(backbone="efficientnet_lite1", blocks=2)
    trained = tl.train_folder("my_photos", recipe)
"""

from __future__ import annotations

from dataclasses import dataclass

from tl_helpers.config import DEFAULT_SEED
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_image_size

__all__ = ["TRAIN_DEFAULT", "TRAIN_FAST", "VALIDATION_FRACTION", "TrainRecipe"]

# The share of a folder's photos held out for validation when it has no validation/ folder.
VALIDATION_FRACTION = 0.15


@dataclass(frozen=True)
class TrainRecipe:
    """Which base, at which size, and how the head and (with ``blocks``) the top blocks of the
    base are trained on cached activations (notebook 04's recipe)."""

    backbone: str = "efficientnet_lite0"
    # None: the backbone's own size (its BackboneSpec.default_size).
    image_size: int | None = None
    # How many of the base's top blocks to fine-tune after the head; 0: feature extraction.
    blocks: int = 0
    epochs: int = 50  # most epochs for the head (early stopping usually ends sooner)
    fine_tune_epochs: int = 5
    learning_rate: float = 1e-3  # the head's
    fine_tune_learning_rate: float = 1e-4
    dropout: float = 0.2
    # The head also trains on the mirror images' features, and fine-tuning flips at random.
    mirrored: bool = True
    crop: int = 2  # fine-tuning shifts the cached activation map by up to this many cells
    label_smoothing: float = 0.1  # fine-tuning's
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be {rule}, got {getattr(self, name)!r}"
            for name, rule, good in (
                ("backbone", "a backbone's name", isinstance(self.backbone, str) and self.backbone),
                ("blocks", "a whole number, 0 or more", _whole(self.blocks, 0)),
                ("epochs", "a whole number, 1 or more", _whole(self.epochs, 1)),
                ("fine_tune_epochs", "a whole number, 1 or more", _whole(self.fine_tune_epochs, 1)),
                ("learning_rate", "positive", _positive(self.learning_rate)),
                ("fine_tune_learning_rate", "positive", _positive(self.fine_tune_learning_rate)),
                ("dropout", "at least 0 and below 1", _fraction(self.dropout)),
                ("crop", "a whole number, 0 or more", _whole(self.crop, 0)),
                ("label_smoothing", "at least 0 and below 1", _fraction(self.label_smoothing)),
                ("seed", "a whole number", _whole(self.seed, None)),
            )
            if not good
        ]
        if problems:
            raise CourseError(f"impossible recipe: {'; '.join(problems)}")
        if self.image_size is not None:
            check_image_size(self.image_size)

    def describe(self, image_size: int | None = None) -> str:
        """One line for a person: the base, its size and what is trained."""
        size = image_size or self.image_size
        shown = f"{self.backbone} at {size} px" if size else f"{self.backbone} at its own size"
        trained = f"top {self.blocks} blocks fine-tuned" if self.blocks else "feature extraction"
        return f"{shown}, {trained}"


def _whole(value: object, least: int | None) -> bool:
    return (
        isinstance(value, int) and not isinstance(value, bool) and (least is None or value >= least)
    )


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1


# Chosen by 5-fold cross-validation over the training and validation photos of both course
# datasets (benchmarks/cross_validate_backbones.py, then benchmarks/choose_backbone.py)
# (rule and numbers: tl_helpers/records/backbone_choice.json; a test keeps the two equal).
TRAIN_DEFAULT = TrainRecipe("efficientnet_lite0", 288, 0)
# The quickest recipe: Lite0 feature extraction at 224 px (``train --fast``).
TRAIN_FAST = TrainRecipe("efficientnet_lite0", 224, 0)
