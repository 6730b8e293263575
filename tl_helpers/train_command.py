"""The ``train`` command: the course's recipe on a folder of photos, on one device, every GPU of
this machine, or the machines in ``TF_CONFIG``.

    python -m tl_helpers train DATA_DIR --out model.keras [--fast] [--backbone B] [--blocks N] [--epochs E]
                                [--strategy {auto,mirrored,multi-worker}] [--backup-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from tl_helpers import config
from tl_helpers.errors import CourseError
from tl_helpers.limits import check_image_size

if TYPE_CHECKING:  # TensorFlow loads only when the command runs
    import tensorflow as tf

    from tl_helpers.training import FolderTraining

__all__ = ["add_train_command", "train_recipe"]


def train_recipe(args: argparse.Namespace) -> config.TrainRecipe:
    """The recipe ``train`` runs: ``TRAIN_DEFAULT`` (or ``TRAIN_FAST`` with ``--fast``), with any
    of ``--backbone``, ``--image-size``, ``--blocks``, ``--fine-tune-epochs`` given replacing its
    value."""
    base = config.TRAIN_FAST if args.fast else config.TRAIN_DEFAULT
    chosen = {
        "backbone": args.backbone,
        "image_size": args.image_size,
        "blocks": args.blocks,
        "fine_tune_epochs": args.fine_tune_epochs,
    }
    return dataclasses.replace(base, **{k: v for k, v in chosen.items() if v is not None})


def _train_folder(
    args: argparse.Namespace, recipe: config.TrainRecipe, strategy: tf.distribute.Strategy
) -> FolderTraining:
    from tl_helpers.training import train_folder

    return train_folder(
        args.data_dir,
        backbone=recipe.backbone,
        image_size=recipe.image_size,
        epochs=args.epochs,
        blocks=recipe.blocks,
        fine_tune_epochs=recipe.fine_tune_epochs,
        validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction,
        verbose=args.verbose,
        strategy=strategy,
        backup_dir=args.backup_dir,
    )


def _train(args: argparse.Namespace) -> int:
    import tensorflow as tf

    from tl_helpers.evaluation import evaluate
    from tl_helpers.models.saving import check_model_path, load_classifier, save_classifier
    from tl_helpers.training import current_worker, distribution_strategy

    # Settings that would only fail after minutes of training are checked first.
    check_model_path(args.out)
    config.cache_dir()
    if args.connect_timeout <= 0:
        raise CourseError(f"--connect-timeout must be positive, got {args.connect_timeout}")
    strategy = distribution_strategy(args.strategy, connect_timeout_s=args.connect_timeout)
    worker = current_worker(strategy)
    if strategy.num_replicas_in_sync > 1:
        print(
            f"strategy {args.strategy}: {strategy.num_replicas_in_sync} replicas"
            + (f", this is worker {worker.index} of {worker.count}" if worker.count > 1 else "")
        )
    recipe = train_recipe(args)
    check_image_size(recipe.image_size, setting="--image-size")  # before anything is allocated
    print(
        f"recipe: {recipe.backbone} at {recipe.image_size} px, "
        + (f"top {recipe.blocks} blocks fine-tuned" if recipe.blocks else "feature extraction")
        + (" (--fast)" if args.fast else "")
    )
    try:
        trained = _train_folder(args, recipe, strategy)
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        if worker.count == 1:
            raise
        first_line = str(error).strip().splitlines()[0]
        raise CourseError(
            f"worker {worker.index} lost the others ({first_line}): start the same command again on "
            "every machine; with --backup-dir they resume from the last finished epoch"
        ) from None
    if not worker.is_chief:
        print(f"worker {worker.index} finished; the chief (worker 0) evaluates and saves the model")
        return 0
    splits, history = trained.splits, trained.history
    print(
        f"classes: {', '.join(splits.class_names)}; train {len(splits.train)}, validation {len(splits.validation)}, test {len(splits.test)} images"
    )
    head_epochs = history.fine_tune_start if history.fine_tune_start is not None else history.epochs
    print(
        f"head trained for {head_epochs} epochs"
        + (
            f", then fine-tuned for {history.epochs - head_epochs}"
            if history.fine_tune_start is not None
            else ""
        )
    )
    saved = save_classifier(trained.model, args.out)
    # Evaluated on one device: a model built under a multi-worker strategy would wait for the
    # other workers, which have finished. Under one machine's strategy this is the same model.
    model = load_classifier(saved).model if worker.count > 1 else trained.model
    # The saved model's own score (early stopping restored its best epoch), not the best epoch seen, which is optimistic.
    print(
        f"validation accuracy of the saved model: {evaluate(model, splits.validation).accuracy_text()}"
    )
    if len(splits.test):
        print("test split (read once):\n" + evaluate(model, splits.test).table())
    print(f"saved {saved}")
    return 0


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
    default, fast = config.TRAIN_DEFAULT, config.TRAIN_FAST
    train.add_argument(
        "--fast",
        action="store_true",
        help=f"the quickest recipe ({fast.backbone} at {fast.image_size} px, feature extraction) "
        "instead of the default chosen on validation",
    )
    train.add_argument(
        "--backbone",
        help=f"backbone name (default {default.backbone}; an unknown name lists the valid ones)",
    )
    train.add_argument("--image-size", type=int, help=f"default {default.image_size}")
    train.add_argument(
        "--epochs",
        type=int,
        default=50,
        help="most epochs for the head (early stopping usually ends sooner)",
    )
    train.add_argument(
        "--blocks",
        type=int,
        help="also fine-tune the top N blocks of the base, on cached activations "
        f"(default {default.blocks}; 0: feature extraction only)",
    )
    train.add_argument("--fine-tune-epochs", type=int, help=f"default {default.fine_tune_epochs}")
    train.add_argument(
        "--validation-fraction",
        type=float,
        default=0.15,
        help="carved by file name when there is no validation/ folder",
    )
    train.add_argument(
        "--test-fraction",
        type=float,
        default=0.0,
        help="also hold out a test split (class-folder layout only)",
    )
    train.add_argument(
        "--verbose",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one line per epoch (--no-verbose: only the results)",
    )
    train.add_argument(
        "--strategy",
        choices=("auto", "mirrored", "multi-worker"),
        default="auto",
        help="auto: every GPU of this machine when there are two or more, else one device; "
        "mirrored: insist on two or more devices; multi-worker: the machines in TF_CONFIG "
        "(start the same command on each; see the README)",
    )
    train.add_argument(
        "--connect-timeout",
        type=float,
        default=120.0,
        help="multi-worker: seconds to wait for the other workers before giving up",
    )
    train.add_argument(
        "--backup-dir",
        help="save the fine-tuning state here after every epoch; a killed run started again "
        "with the same folder resumes from its last finished epoch",
    )
    train.set_defaults(handler=_train)
