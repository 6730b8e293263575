"""Finding image files in a folder and checking that each one decodes, with Pillow alone (no
TensorFlow: listing and checking a folder stays light). Reading pixels for a model is
``data.decode``'s job."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tl_helpers.errors import CourseWarning

__all__ = [
    "IMAGE_EXTENSIONS",
    "LARGE_IMAGE_PIXELS",
    "has_images",
    "image_problem",
    "is_image_name",
    "list_images",
    "size_pair",
]

# The formats TensorFlow's decode_image reads, which is what the pipelines use.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp"})


def size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """An image size as ``(height, width)``: ``224`` means ``(224, 224)``."""
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def is_image_name(path: Path) -> bool:
    """True for a file name with an image extension (any case); hidden files are never images."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files inside ``folder`` and its sub-folders (as Keras's ``image_dataset_from_directory``
    reads them), sorted by path, with a warning naming everything left out.

    Left out, never silently: files that are not images (``Thumbs.db``, ``.DS_Store``, text
    files), links to files outside the dataset folder (``folder``'s parent: a link there could
    pull a validation photo into training, or read anything on the disk), and links to folders,
    which are not followed.
    """
    folder = Path(folder)
    boundary = folder.parent.resolve()
    images: list[Path] = []
    skipped: list[Path] = []
    outside: list[Path] = []
    linked_folders: list[Path] = []
    for directory, subdirectories, filenames in os.walk(folder):  # does not follow links to folders
        here = Path(directory)
        linked_folders += [here / name for name in subdirectories if (here / name).is_symlink()]
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not name.startswith(".") and not (here / name).is_symlink()
        )
        for name in sorted(filenames):
            path = here / name
            if not is_image_name(path):
                skipped.append(path)
            elif path.is_symlink() and not path.resolve().is_relative_to(boundary):
                outside.append(path)
            else:
                images.append(path)

    def names(paths: list[Path]) -> str:
        shown = ", ".join(str(p.relative_to(folder)) for p in paths[:5])
        return shown + (" ..." if len(paths) > 5 else "")

    if skipped:
        warnings.warn(
            f"{folder}: skipped {len(skipped)} file(s) that are not images: {names(skipped)}",
            CourseWarning,
            stacklevel=2,
        )
    if outside:
        warnings.warn(
            f"{folder}: skipped {len(outside)} link(s) to files outside {boundary}: {names(outside)}; "
            "copy the photos into the folder if you want them used",
            CourseWarning,
            stacklevel=2,
        )
    if linked_folders:
        warnings.warn(
            f"{folder}: did not follow {len(linked_folders)} link(s) to folders: {names(linked_folders)}",
            CourseWarning,
            stacklevel=2,
        )
    return sorted(images)


def has_images(folder: Path) -> bool:
    """True when ``folder`` or any of its sub-folders holds a file with an image name."""
    return any(
        is_image_name(Path(name)) for _, _, filenames in os.walk(folder) for name in filenames
    )


LARGE_IMAGE_PIXELS = 40_000_000  # beyond this, warn: every use decodes the full image

# Pillow's "possible decompression bomb" warning (over 89 megapixels) is replaced by the clearer
# one in image_problem; images over twice that limit still raise and are reported as problems.
# (A filter, not catch_warnings: image_problem runs in threads, and catch_warnings is not thread-safe.)
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or ``None`` when it decodes completely.

    JPEGs are decoded at reduced scale (``draft``), which still reads every byte of the file and
    so catches truncation, at a fraction of the cost of a full decode. Very large images are
    usable but slow: they get a warning that says so. Images too large for Pillow's safety limit
    (over about 179 megapixels) are reported as a problem.
    """
    try:
        if Path(path).stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            width, height = image.size
            image.draft("RGB", (64, 64))
            image.load()
    except UnidentifiedImageError:
        return "not a recognised image format"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"cannot be decoded ({error})"
    if width * height > LARGE_IMAGE_PIXELS:
        warnings.warn(
            f"{path}: {width}x{height} pixels ({width * height / 1e6:.0f} megapixels) is decoded at full size "
            f"(about {width * height * 3 / 1e6:.0f} MB) every time it is used, then shrunk; "
            "resize such photos once beforehand to train faster",
            CourseWarning,
            stacklevel=2,
        )
    return None
