"""Import TensorFlow without its C++ start-up notices, and nothing else hidden.

Why they cannot be switched off: TensorFlow's C++ libraries log through Abseil, and Abseil writes
every message that comes *before* its logging is initialised straight to standard error,
ignoring ``TF_CPP_MIN_LOG_LEVEL`` (abseil/abseil-cpp#1718, still open). At import TensorFlow
prints, before that point, a notice that oneDNN is on, which CPU instructions it could use, and,
on a machine without an NVIDIA driver (a laptop, this course's CPU machines), that it found no
CUDA driver and that ``cuInit`` failed. A learner reads those red lines as errors.

``import_tensorflow`` imports TensorFlow (and initialises its devices, which is when the
``cuInit`` line is printed) with the process's standard error captured at the file-descriptor
level, where C++ writes, then prints back every captured line except the notices listed in
``STARTUP_NOTICES``. A real error at import still reaches the learner. The course's Jupyter
kernel (``tl_helpers.kernel``) and the command line call it before anything else.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from types import ModuleType

__all__ = [
    "RUNTIME_NOTICES",
    "STARTUP_NOTICES",
    "brief_course_warnings",
    "import_tensorflow",
    "is_runtime_notice",
    "is_startup_notice",
    "native_output_filtered",
    "quiet_training_logs",
]

# Each pattern matches one line of TensorFlow's known start-up chatter and nothing a learner needs.
STARTUP_NOTICES = tuple(
    re.compile(pattern)
    for pattern in (
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
        r"^[IW]\d{4} [\d:.]+\s+\d+ port\.cc:\d+\] oneDNN custom operations are on\.",
        r"^[IW]\d{4} [\d:.]+\s+\d+ cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
        r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$",
        r"^[IW]\d{4} [\d:.]+\s+\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.$",
        # No driver at all: cuInit fails with 303 (CUDA_ERROR_SYSTEM_NOT_READY family) or "no device".
        r"^E\d{4} [\d:.]+\s+\d+ cuda_(platform|executor)\.cc:\d+\] failed call to cuInit: .*(UNKNOWN ERROR \(303\)|CUDA_ERROR_NO_DEVICE)",
    )
)


# What LiteRT and the converters print on success, from C++ where Python cannot filter it.
RUNTIME_NOTICES = re.compile(
    r"^(fully_quantize: |INFO: Created TensorFlow Lite|[IW]\d{4} [\d:.]+\s+\d+ \S+\.cc:\d+\])"
)


def is_runtime_notice(line: str) -> bool:
    """True for a converter's or the LiteRT interpreter's routine notice (XNNPACK in use...)."""
    return RUNTIME_NOTICES.match(line) is not None


def is_startup_notice(line: str) -> bool:
    """True for a line of TensorFlow's start-up chatter that ``import_tensorflow`` drops."""
    return any(pattern.search(line) for pattern in STARTUP_NOTICES)


@contextlib.contextmanager
def native_output_filtered(is_noise: Callable[[str], bool]) -> Iterator[None]:
    """Capture what C++ code writes to standard output and standard error (at the
    file-descriptor level, where Python's ``sys.stdout`` cannot see it) during the block, then
    print back every line for which ``is_noise`` is false. Without real file descriptors behind
    them (some hosted notebooks) nothing is captured."""
    streams = []
    for stream in (sys.__stdout__, sys.__stderr__):
        try:
            streams.append((stream, stream.fileno()))  # pyright: ignore[reportOptionalMemberAccess]
        except (AttributeError, OSError, ValueError):
            pass
    saved = []
    for stream, fd in streams:
        stream.flush()
        captured = tempfile.TemporaryFile()
        saved.append((stream, fd, os.dup(fd), captured))
        os.dup2(captured.fileno(), fd)
    try:
        yield
    finally:
        for stream, fd, original, captured in saved:
            stream.flush()
            os.dup2(original, fd)
            os.close(original)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines()
                if not is_noise(line)
            ]
            captured.close()
            if kept:
                print("\n".join(kept), file=stream, flush=True)


def import_tensorflow() -> ModuleType:
    """Import TensorFlow and list its devices with the start-up notices filtered out of standard
    error; every other line printed meanwhile is passed on. Importing it again is free."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault(
        "TF_CPP_MIN_LOG_LEVEL", "2"
    )  # the log lines after start-up: warnings and errors only
    with native_output_filtered(is_startup_notice):
        import tensorflow

        tensorflow.config.list_physical_devices()  # the CUDA probe (cuInit) happens here, not at import
    return tensorflow


def brief_course_warnings() -> None:
    """Show ``CourseWarning``s as one line, ``warning: <message>``, without the helper's source
    file and line (which say nothing to a learner and put local paths into notebooks). Every
    other warning keeps Python's usual format. The course's kernel and command line call it."""
    import warnings

    from tl_helpers.errors import CourseWarning

    usual = warnings.showwarning
    if getattr(usual, "brief_course_warnings", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' own signature
        if issubclass(category, CourseWarning):
            print(f"warning: {message}", file=file or sys.stderr, flush=True)
        else:
            usual(message, category, filename, lineno, file, line)

    show.brief_course_warnings = True  # type: ignore[attr-defined]
    warnings.showwarning = show


class _NoRetracingNotice:
    """A logging filter that drops TensorFlow's "triggered tf.function retracing" notice."""

    def filter(self, record: object) -> bool:
        return "triggered tf.function retracing" not in getattr(record, "getMessage", lambda: "")()


def quiet_training_logs() -> None:
    """Hide two known messages that say nothing about the learner's work; every other warning
    and log line still shows. The course's notebooks (``setup_notebook``) and command line call it.

    - Keras 3.15 warns on every ``fit`` with a ``tf.data`` dataset that its default
      ``shuffle=True`` is ignored, even when the dataset shuffles itself (the course's do).
    - TensorFlow logs "N out of the last M calls ... triggered tf.function retracing" when several
      models are evaluated one after another, as the notebooks do on purpose.
    """
    import logging
    import warnings

    warnings.filterwarnings(
        "ignore", message=r"`shuffle=True` was passed, but will be ignored", category=UserWarning
    )
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(existing, _NoRetracingNotice) for existing in logger.filters):
        logger.addFilter(_NoRetracingNotice())
