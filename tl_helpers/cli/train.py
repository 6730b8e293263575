"""The ``train`` command: the course's recipe on a folder of photos, on one device, every GPU of
this machine, or the machines in ``TF_CONFIG``.

    python -m tl_helpers train DATA_DIR --out model.keras [--fast] [--backbone B] [--blocks N] [--epochs E]
                                [--strategy {auto,mirrored,multi-worker}] [--backup-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import TYPE_CHECKING

from tl_helpers import config
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_image_size
from tl_helpers.recipe import TRAIN_DEFAULT, TRAIN_FAST, VALIDATION_FRACTION, TrainRecipe

if TYPE_CHECKING:  # TensorFlow loads only when the command runs
    import tensorflow as tf

    from tl_helpers.training import FolderTraining

__all__ = ["add_train_command", "train_recipe"]


# The recipe's settings the command line offers: flag -> TrainRecipe field.
RECIPE_FLAGS = {
    "--backbone": "backbone",
    "--image-size": "image_size",
    "--blocks": "blocks",
    "--epochs": "epochs",
    "--fine-tune-epochs": "fine_tune_epochs",
}


def train_recipe(args: argparse.Namespace) -> TrainRecipe:
    """The recipe ``train`` runs: ``TRAIN_DEFAULT`` (or ``TRAIN_FAST`` with ``--fast``), with each
    of ``RECIPE_FLAGS`` given replacing its value; a ``CourseError`` naming the flag when the
    result is impossible."""
    base = TRAIN_FAST if args.fast else TRAIN_DEFAULT
    chosen = {field: getattr(args, field) for field in RECIPE_FLAGS.values()}
    if args.image_size is not None:  # the recipe checks it too, but would name its field
        check_image_size(args.image_size, setting="--image-size")
    try:
        return dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None})
    except CourseError as error:
        text = str(error)
        for flag, field in RECIPE_FLAGS.items():  # the names a person typed, not the fields'
            text = re.sub(rf"(?<![\w-]){field} must", f"{flag} must", text)
        raise CourseError(text) from None


def _train_folder(
    args: argparse.Namespace, recipe: TrainRecipe, strategy: tf.distribute.Strategy
) -> FolderTraining:
    from tl_helpers.training import train_folder

    return train_folder(
        args.data_dir,
        recipe,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        verbose=args.verbose,
        strategy=strategy,
        backup_dir=args.backup_dir,
    )


def _train(args: argparse.Namespace) -> int:
    from tl_helpers.models.saving import check_model_path
    from tl_helpers.training import current_worker

    # Settings that would only fail after minutes of training are checked first.
    recipe = train_recipe(args)
    check_model_path(args.out)
    config.cache_dir()
    if args.connect_timeout <= 0:
        raise CourseError(f"--connect-timeout must be positive, got {args.connect_timeout}")
    strategy = _strategy(args)
    print(f"recipe: {recipe.describe()}" + (" (--fast)" if args.fast else ""))
    trained = _train_folder_together(args, recipe, strategy)
    worker = current_worker(strategy)
    if not worker.is_chief:
        print(f"worker {worker.index} finished; the chief (worker 0) evaluates and saves the model")
        return 0
    _report_and_save(trained, args.out, on_one_device=worker.count > 1)
    return 0


def _strategy(args: argparse.Namespace) -> tf.distribute.Strategy:
    from tl_helpers.training import current_worker, distribution_strategy

    strategy = distribution_strategy(args.strategy, connect_timeout_s=args.connect_timeout)
    worker = current_worker(strategy)
    if strategy.num_replicas_in_sync > 1:
        print(
            f"strategy {args.strategy}: {strategy.num_replicas_in_sync} replicas"
            + (f", this is worker {worker.index} of {worker.count}" if worker.count > 1 else "")
        )
    return strategy


def _train_folder_together(
    args: argparse.Namespace, recipe: TrainRecipe, strategy: tf.distribute.Strategy
) -> FolderTraining:
    """``_train_folder``, where a worker that loses the others says what to do instead of
    showing TensorFlow's traceback."""
    import tensorflow as tf

    from tl_helpers.training import current_worker

    worker = current_worker(strategy)
    try:
        return _train_folder(args, recipe, strategy)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        if worker.count == 1:
            raise
        first_line = str(error).strip().splitlines()[0]
        raise CourseError(
            f"worker {worker.index} lost the others ({first_line}): start the same command again on "
            "every machine; with --backup-dir they resume from the last finished epoch"
        ) from None


def _report_and_save(trained: FolderTraining, out: str, *, on_one_device: bool) -> None:
    """Print what was trained, save the model, and score the saved model on validation (and,
    when there is one, once on the test split)."""
    from tl_helpers.evaluation import evaluate
    from tl_helpers.models.saving import load_classifier, save_classifier

    splits, history = trained.splits, trained.history
    print(
        f"classes: {', '.join(splits.class_names)}; train {len(splits.train)}, "
        f"validation {len(splits.validation)}, test {len(splits.test)} images"
    )
    start = history.fine_tune_start
    head_epochs = history.epochs if start is None else start
    print(
        f"head trained for {head_epochs} epochs"
        + ("" if start is None else f", then fine-tuned for {history.epochs - start}")
    )
    saved = save_classifier(trained.model, out)
    # Evaluated on one device: a model built under a multi-worker strategy would wait for the
    # other workers, which have finished. Under one machine's strategy this is the same model.
    model = load_classifier(saved).model if on_one_device else trained.model
    # The saved model's own score (early stopping restored its best epoch), not the best epoch
    # seen, which is optimistic.
    validation = evaluate(model, splits.validation).accuracy_text()
    print(f"validation accuracy of the saved model: {validation}")
    if len(splits.test):
        print("test split (read once):\n" + evaluate(model, splits.test).table())
    print(f"saved {saved}")


def add_train_command(commands: argparse._SubParsersAction) -> None:
    """Add ``train`` to the command line's sub-commands."""
    train = commands.add_parser(
        "train", help="train a classifier on a folder of class_name/image files"
    )
    train.add_argument(
        "data_dir",
        help="folder with one sub-folder of images per class (or train/ and validation/)",
    )
    train.add_argument("--out", required=True, help="where to save the model (.keras)")
    _add_recipe_arguments(train)
    _add_split_arguments(train)
    train.add_argument(
        "--verbose",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one line per epoch (--no-verbose: only the results)",
    )
    _add_distribution_arguments(train)
    train.set_defaults(handler=_train)


def _add_recipe_arguments(train: argparse.ArgumentParser) -> None:
    default, fast = TRAIN_DEFAULT, TRAIN_FAST
    train.add_argument(
        "--fast",
        action="store_true",
        help=f"the quickest recipe ({fast.describe()}) instead of the default chosen on "
        f"validation ({default.describe()})",
    )
    train.add_argument(
        "--backbone",
        help=f"backbone name (default {default.backbone}; an unknown name lists the valid ones)",
    )
    train.add_argument(
        "--image-size",
        type=int,
        help=f"photos are resized to this many pixels square (default {default.image_size})",
    )
    train.add_argument(
        "--epochs",
        type=int,
        help=f"most epochs for the head (default {default.epochs}; early stopping usually ends "
        "sooner)",
    )
    train.add_argument(
        "--blocks",
        type=int,
        help="also fine-tune the top N blocks of the base, on cached activations "
        f"(default {default.blocks}; 0: feature extraction only)",
    )
    train.add_argument(
        "--fine-tune-epochs",
        type=int,
        help=f"most epochs of fine-tuning, with --blocks (default {default.fine_tune_epochs})",
    )


def _add_split_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--validation-fraction",
        type=float,
        default=VALIDATION_FRACTION,
        help="carved by file name when there is no validation/ folder "
        f"(default {VALIDATION_FRACTION})",
    )
    train.add_argument(
        "--test-fraction",
        type=float,
        default=0.0,
        help="also hold out a test split (class-folder layout only; default none)",
    )


def _add_distribution_arguments(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--strategy",
        choices=config.STRATEGIES,
        default=config.STRATEGIES[0],
        help="auto: every GPU of this machine when there are two or more, else one device; "
        "mirrored: insist on two or more devices; multi-worker: the machines in TF_CONFIG "
        "(start the same command on each; see the README)",
    )
    train.add_argument(
        "--connect-timeout",
        type=float,
        default=config.CONNECT_TIMEOUT_S,
        help="multi-worker: seconds to wait for the other workers before giving up "
        f"(default {config.CONNECT_TIMEOUT_S:g})",
    )
    train.add_argument(
        "--backup-dir",
        help="save the fine-tuning state here after every epoch; a killed run started again "
        "with the same folder resumes from its last finished epoch",
    )
