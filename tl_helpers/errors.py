"""Exceptions the course raises on purpose.

Each one carries a message written for a learner: what went wrong, which file or name, and what
to do about it. Catch ``CourseError`` to handle all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CourseError",
    "CourseWarning",
    "DatasetIntegrityError",
    "DatasetUnavailableError",
    "SettingsError",
    "UnknownNameError",
    "UnsafeArchiveError",
]


class CourseError(Exception):
    """Base class for every error raised on purpose by ``tl_helpers``."""


class CourseWarning(UserWarning):
    """Something in the learner's data the course worked around (a file skipped, a huge photo):
    shown, never silent. The course's kernel and command line print it as one line,
    ``warning: ...``, without the helper's source file and line."""


class UnknownNameError(CourseError, KeyError):
    """A dataset, backbone or option name that does not exist."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid names are: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise print the message with quotes
        return self.args[0]


class DatasetUnavailableError(CourseError):
    """A dataset could not be fetched from anywhere (no network, no mirror, no local archive)."""


class DatasetIntegrityError(CourseError):
    """Downloaded or mirrored data failed a check (checksum, counts, undecodable images)."""


class SettingsError(CourseError):
    """A folder setting (``TL_CACHE_DIR``, ``TL_DATA_DIR``, ``TL_MIRROR`` or the argument that
    overrides it) that names a file, a missing folder or one this user cannot write to."""


class UnsafeArchiveError(CourseError):
    """An archive member would be written outside the target folder, or is a link or device."""
