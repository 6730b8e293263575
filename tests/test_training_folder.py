"""train_folder: the recipe behind ``python -m tl_helpers train`` and notebook 06."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_image
from tl_helpers.errors import CourseError
from tl_helpers.models import parameter_counts
from tl_helpers.models.build import class_names_of
from tl_helpers.recipe import TrainRecipe
from tl_helpers.training import check_training_folder, train_folder, train_splits


@pytest.mark.slow
def test_feature_extraction_only(colour_folder):
    trained = train_folder(colour_folder, TrainRecipe(image_size=64, epochs=30), verbose=False)
    assert class_names_of(trained.model) == ["blue_things", "green_things", "red_things"]
    assert trained.history.fine_tune_start is None and trained.history.epochs >= 1
    assert trained.history.best() >= 0.9  # three colours are easy for ImageNet features
    assert parameter_counts(trained.model).trainable == 1280 * 3 + 3  # only the head is trainable


@pytest.mark.slow
def test_train_splits_is_train_folder_on_splits_made_elsewhere(colour_folder):
    """train_folder is check_training_folder + train_splits: same splits, same seed, same model;
    the test split (here a fifth of the photos) is never read by either."""
    from tl_helpers.models import probabilities

    splits = check_training_folder(colour_folder, test_fraction=0.2)
    test_photos = set(splits.test.files)
    recipe = TrainRecipe(image_size=48, epochs=3)
    by_folder = train_folder(colour_folder, recipe, test_fraction=0.2, verbose=False)
    by_splits = train_splits(splits, recipe, verbose=False)
    assert by_folder.splits.train.files == by_splits.splits.train.files
    seen = set(by_splits.splits.train.files) | set(by_splits.splits.validation.files)
    assert test_photos and not test_photos & seen
    images = np.random.default_rng(0).uniform(0, 255, (4, 48, 48, 3)).astype(np.float32)
    np.testing.assert_allclose(
        probabilities(by_folder.model, images), probabilities(by_splits.model, images), atol=1e-6
    )


@pytest.mark.slow
def test_with_fine_tuning_and_a_test_split(colour_folder):
    recipe = TrainRecipe(image_size=64, epochs=5, blocks=2, fine_tune_epochs=2)
    trained = train_folder(colour_folder, recipe, test_fraction=0.2, verbose=False)
    assert len(trained.splits.test) > 0
    assert (
        trained.history.fine_tune_start is not None
        and trained.history.epochs > trained.history.fine_tune_start
    )
    assert parameter_counts(trained.model).trainable > 1280 * 3 + 3  # the top blocks were unfrozen
    images = np.zeros((1, 64, 64, 3), np.float32)
    assert trained.model.predict(images, verbose=0).shape == (1, 3)


@pytest.mark.parametrize("validation, test", [(0.0, 0.0), (1.0, 0.0), (0.6, 0.5), (-0.1, 0.0)])
def test_impossible_fractions_are_refused(colour_folder, validation, test):
    with pytest.raises(CourseError, match="impossible split fractions"):
        check_training_folder(colour_folder, validation, test)


@pytest.mark.parametrize(
    "setting, value, rule",
    [
        ("epochs", 0, "epochs must be a whole number, 1 or more"),
        ("fine_tune_epochs", 2.5, "fine_tune_epochs must be a whole number, 1 or more"),
        ("blocks", -1, "blocks must be a whole number, 0 or more"),
        ("learning_rate", 0.0, "learning_rate must be positive"),
        ("fine_tune_learning_rate", -1e-4, "fine_tune_learning_rate must be positive"),
        ("dropout", 1.0, "dropout must be at least 0 and below 1"),
        ("label_smoothing", -0.1, "label_smoothing must be at least 0 and below 1"),
        ("crop", True, "crop must be a whole number, 0 or more"),
        ("seed", "42", "seed must be a whole number"),
        ("backbone", "", "backbone must be a backbone's name"),
    ],
)
def test_an_impossible_recipe_is_refused_when_it_is_made(setting, value, rule):
    with pytest.raises(CourseError, match=f"impossible recipe: {rule}, got {value!r}"):
        TrainRecipe(**{setting: value})


def test_a_recipe_names_every_problem_at_once_and_checks_its_image_size():
    with pytest.raises(CourseError, match="epochs must .*; dropout must"):
        TrainRecipe(epochs=0, dropout=2.0)
    with pytest.raises(CourseError, match="image_size must be at least"):
        TrainRecipe(image_size=8)
    assert TrainRecipe().describe() == "efficientnet_lite0 at its own size, feature extraction"
    assert (
        TrainRecipe(blocks=2).describe(240)
        == "efficientnet_lite0 at 240 px, top 2 blocks fine-tuned"
    )


@pytest.mark.slow
def test_a_recipe_without_a_size_trains_at_the_backbone_s_own(colour_folder):
    from tl_helpers.models.predict import input_size

    trained = train_folder(colour_folder, TrainRecipe(epochs=1), verbose=False)
    assert input_size(trained.model) == (224, 224)


def test_too_few_images_for_validation(tmp_path):
    for name in ("cats", "dogs"):
        write_image(tmp_path / "tiny" / name / "only.png", seed=len(name))
    with pytest.raises(CourseError, match="too few images to carve a validation set"):
        check_training_folder(tmp_path / "tiny")


@pytest.mark.slow
def test_the_recipe_builds_one_base_and_fine_tunes_the_top_its_pass_cut(colour_folder):
    """recipe_activations cuts one base; recipe_head puts the head on that very base, and
    recipe_fine_tune trains the top the pass cut, so the classifier holds the trained weights;
    a classifier built elsewhere is refused with the function to use instead."""
    from tl_helpers.models import build_classifier, classifier_parts
    from tl_helpers.training import recipe_activations, recipe_fine_tune, recipe_head

    splits = check_training_folder(colour_folder)
    recipe = TrainRecipe(image_size=48, epochs=3, blocks=1, fine_tune_epochs=1)
    frozen = recipe_activations(splits, recipe, verbose=False)
    model, history = recipe_head(frozen, recipe, splits.class_names, verbose=False)
    assert classifier_parts(model).base is frozen.parts.base
    top_kernel = next(w for w in frozen.parts.top.weights if "kernel" in w.path)
    before = np.array(top_kernel.numpy())
    history = recipe_fine_tune(model, frozen, recipe, history, verbose=False)
    assert history.fine_tune_start is not None
    assert not np.allclose(before, top_kernel.numpy())  # the classifier's own layer was trained
    elsewhere = build_classifier("efficientnet_lite0", 3, image_size=48, weights=None)
    with pytest.raises(CourseError, match="fast_fine_tune"):
        recipe_fine_tune(elsewhere, frozen, recipe, verbose=False)
