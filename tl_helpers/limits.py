"""What fits: image sizes checked against this machine's memory before anything is allocated.

A frozen pass holds one batch of photos and the network's activations for it. The largest of
those are near the input (EfficientNet-Lite's early blocks keep 96 channels at half the photo's
resolution), so the memory grows with the photo's pixels: ``PEAK_BYTES_PER_PIXEL`` per pixel of
each photo in the batch, read off the process's peak memory at two sizes
(``benchmarks/memory_per_pixel.py``). A size whose batch would need more than half the machine's
memory is refused with the sizes that fit, instead of allocating for minutes and dying with
TensorFlow's out-of-memory traceback.
"""

from __future__ import annotations

import math
import os

from tl_helpers.errors import CourseError

__all__ = [
    "MEMORY_SHARE",
    "MIN_IMAGE_SIZE",
    "PEAK_BYTES_PER_PIXEL",
    "check_at_least",
    "check_image_size",
    "check_positive",
    "largest_image_size",
    "memory_bytes",
]

# Measured: 257 for Lite0 to Lite2 (benchmarks/results/memory_per_pixel.json); the rest is a margin
# for the decoded photos queued in the pipeline and the activations a training run keeps.
PEAK_BYTES_PER_PIXEL = 400
MEMORY_SHARE = 0.5  # of the machine's memory a batch may take: the rest is the OS, the data, Python
MIN_IMAGE_SIZE = 32  # the backbones halve the photo five times: smaller leaves less than one cell


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or ``None`` where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        return None


def largest_image_size(batch_size: int = 32, memory: int | None = None) -> int | None:
    """The largest square photo side whose batch of ``batch_size`` fits in ``MEMORY_SHARE`` of
    ``memory`` (default: this machine's), or ``None`` when the memory is unknown."""
    memory = memory_bytes() if memory is None else memory
    if memory is None:
        return None
    return int(math.sqrt(MEMORY_SHARE * memory / (batch_size * PEAK_BYTES_PER_PIXEL)))


def check_image_size(
    image_size: int | tuple[int, int],
    batch_size: int = 32,
    *,
    setting: str = "image_size",
    memory: int | None = None,
) -> tuple[int, int]:
    """``image_size`` as ``(height, width)`` if it is a size a frozen pass can run at here;
    otherwise a ``CourseError`` naming ``setting``, what it would need and the sizes that fit."""
    pair = tuple(image_size) if isinstance(image_size, tuple | list) else (image_size, image_size)
    if len(pair) != 2 or not all(
        isinstance(side, int) and not isinstance(side, bool) for side in pair
    ):
        raise CourseError(
            f"{setting} must be a whole number of pixels (or two), got {image_size!r}"
        )
    if min(pair) < MIN_IMAGE_SIZE:
        raise CourseError(
            f"{setting} must be at least {MIN_IMAGE_SIZE} px (the backbones halve the photo five "
            f"times), got {image_size}; the backbones were trained at 224 to 300 px"
        )
    if batch_size < 1:
        raise CourseError(f"batch_size must be at least 1, got {batch_size}")
    memory = memory_bytes() if memory is None else memory
    needed = batch_size * pair[0] * pair[1] * PEAK_BYTES_PER_PIXEL
    if memory is not None and needed > MEMORY_SHARE * memory:
        largest = largest_image_size(batch_size, memory)
        raise CourseError(
            f"{setting} {image_size} needs about {needed / 2**30:,.0f} GB for one batch of "
            f"{batch_size} photos, and this machine has {memory / 2**30:.0f} GB of memory: sizes "
            f"up to about {largest} px fit (the backbones were trained at 224 to 300 px, and "
            "larger photos rarely help: notebook 08 measures it)"
        )
    return pair  # type: ignore[return-value]


def check_at_least(name: str, value: float, least: float = 1) -> None:
    """A ``CourseError`` naming ``name`` when ``value`` is below ``least`` (epochs, counts,
    seconds of a budget): the one place such numbers are checked."""
    if not value >= least:
        raise CourseError(f"{name} must be at least {least:g}, got {value}")


def check_positive(name: str, value: float, unit: str = "") -> None:
    """A ``CourseError`` naming ``name`` when ``value`` is not above zero."""
    if not value > 0:
        raise CourseError(f"{name} must be a positive number{unit}, got {value}")
