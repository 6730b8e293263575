"""Saving and loading classifiers as ``.keras`` files: raw images in, class probabilities out."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import keras

from tl_helpers.backbones import preprocessing  # noqa: F401 - registers CaffePreprocess for loading
from tl_helpers.errors import CourseError
from tl_helpers.models.build import class_names_of
from tl_helpers.models.predict import input_size
from tl_helpers.storage import atomic_path

__all__ = [
    "LoadedClassifier",
    "ModelFileError",
    "check_model_path",
    "image_classifier_problem",
    "load_classifier",
    "save_classifier",
]


class ModelFileError(CourseError):
    """A model file that cannot be loaded (missing, not a .keras file, unsafe content)."""


def check_model_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if a classifier can be saved there (a ``.keras`` name in a folder this user can
    write to, created if missing); otherwise a ``ModelFileError`` saying what to change. The
    ``train`` command asks before training, not after."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(
            f"save to a file ending in .keras (the Keras 3 format), got {path.name}"
        )
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder; give a file name ending in .keras")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelFileError(
            f"cannot create the folder {path.parent} ({error.strerror or error}); choose another path"
        ) from error
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ModelFileError(f"the folder {path.parent} is read-only; choose another path")
    return path


def save_classifier(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save a classifier (architecture, weights, class names, preprocessing) to a ``.keras`` file."""
    path = check_model_path(path)
    # Written beside the target and moved into place when complete: Ctrl-C or a full disk never
    # leaves a half-written .keras file, and an earlier model survives until the new one is whole.
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


@dataclass
class LoadedClassifier:
    """A loaded model together with its class names (``probabilities(loaded.model, images)``
    gives one column per class name)."""

    model: keras.Model
    class_names: list[str]

    @property
    def image_size(self) -> tuple[int, int]:
        return input_size(self.model)


def load_classifier(path: str | os.PathLike[str]) -> LoadedClassifier:
    """Load a ``.keras`` classifier with Keras's ``safe_mode`` on: code hidden in the file
    (a ``Lambda`` layer, for instance) is refused, with the reason."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"no model file at {path}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path} is not a .keras model file (a .keras file is a zip archive); was it saved with save_classifier?"
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise ModelFileError(
                f"{path} contains code that Keras refuses to load in safe mode (for example a Lambda layer): {error}. "
                "Only load it with safe_mode=False if you wrote it yourself."
            ) from error
        raise ModelFileError(f"{path} could not be loaded as a Keras model: {error}") from error
    except (KeyError, OSError, TypeError) as error:
        raise ModelFileError(f"{path} could not be loaded as a Keras model: {error}") from error
    problem = image_classifier_problem(model)
    if problem:
        raise ModelFileError(
            f"{path} is a Keras model, but not an image classifier the course can use: {problem}. "
            "Give a classifier saved by the course (train, save_classifier) or one that takes "
            "(height, width, 3) photos and gives one probability per class."
        )
    return LoadedClassifier(model, class_names_of(model))


def image_classifier_problem(model: keras.Model) -> str | None:
    """What keeps ``model`` from being an image classifier (photos in, one probability per
    class out), or ``None`` when it is one."""
    inputs, outputs = model.inputs, model.outputs
    if len(inputs) != 1 or len(outputs) != 1:
        return (
            f"it has {len(inputs)} inputs and {len(outputs)} outputs, where one of each is needed"
        )
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[3] != 3 or None in shape[1:3]:
        return f"its input is {shape}, not a batch of (height, width, 3) photos of a fixed size"
    if len(tuple(model.output_shape)) != 2:
        return f"its output is {tuple(model.output_shape)}, not one row of class scores per photo"
    return None
