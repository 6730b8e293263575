"""Finding image files in a folder and checking that each one decodes."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# The formats TensorFlow's decode_image reads, which is what the pipelines use.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp"})


def is_image_name(path: Path) -> bool:
    """True for a file name with an image extension (any case); hidden files are never images."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name, with a warning naming any other files.

    Files that are not images (``Thumbs.db``, ``.DS_Store``, text files) are skipped, never
    silently: the warning says which ones.
    """
    folder = Path(folder)
    images, skipped = [], []
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            continue
        (images if is_image_name(path) else skipped).append(path)
    if skipped:
        names = ", ".join(p.name for p in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        warnings.warn(f"{folder}: skipped {len(skipped)} file(s) that are not images: {names}", stacklevel=2)
    return images


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or ``None`` when it decodes completely.

    JPEGs are decoded at reduced scale (``draft``), which still reads every byte of the file and
    so catches truncation, at a fraction of the cost of a full decode.
    """
    try:
        if Path(path).stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))
            image.load()
    except UnidentifiedImageError:
        return "not a recognised image format"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"cannot be decoded ({error})"
    return None


def load_image(path: Path, size: tuple[int, int] | None = None) -> "np.ndarray":
    """One image as a float32 ``(height, width, 3)`` array in 0-255, the way a camera meant it.

    EXIF orientation is applied (phones store portrait photos sideways with a rotation tag),
    grayscale, palette, CMYK and alpha images become RGB, and ``size`` = (height, width)
    resizes bilinearly like the training pipeline.
    """
    import numpy as np
    from PIL import ImageOps

    problem = image_problem(Path(path))
    if problem:
        raise ValueError(f"{path}: {problem}")
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        if size is not None:
            image = image.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32)
