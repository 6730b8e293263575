"""Where things live: the project root, the data folder, the cache folder and the mirror.

Every location can be overridden with an environment variable, so a teacher can point a whole
classroom at a shared copy without editing code:

- ``TL_MIRROR``: a folder holding ``cats_and_dogs_filtered/`` and ``flower_photos/``; when set,
  datasets are taken from there instead of being downloaded.
- ``TL_DATA_DIR``: where downloaded datasets land (default ``datasets/data`` in a checkout of the
  project; this user's data folder, ``~/.local/share/tl_helpers`` on Linux, when the package is
  installed from a wheel, where the project folder is site-packages).
- ``TL_CACHE_DIR``: converted weights and cached features (default: this user's cache folder,
  ``~/.cache/tl_helpers`` on Linux, as ``platformdirs`` names it on macOS and Windows). Entries
  are keyed by content, so every copy of the course on a machine can share them safely.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from tl_helpers.errors import SettingsError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DATASETS_DIR",
    "DEFAULT_SEED",
    "IN_CHECKOUT",
    "PROJECT_ROOT",
    "STRATEGIES",
    "USER_CACHE_DIR",
    "cache_dir",
    "data_dir",
    "display_path",
    "mirror_dir",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = (
    42  # the one seed of the course: splits' shuffling, augmentation, head initialisation
)
# How training can be spread over devices (training.strategy), named here without TensorFlow so
# the command line can offer them instantly.
STRATEGIES = ("auto", "mirrored", "multi-worker")
CONNECT_TIMEOUT_S = 120.0  # how long a worker waits for the others before it gives up
# In a checkout, beside the notebooks; installed from a wheel, PROJECT_ROOT is site-packages.
IN_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()
DATASETS_DIR = (
    PROJECT_ROOT / "datasets"
    if IN_CHECKOUT
    else Path(platformdirs.user_data_dir("tl_helpers", appauthor=False)) / "datasets"
)
# Outside the project, so a fresh clone, a second copy or a non-editable install finds what an
# earlier run computed (the keys are content: a changed photo, line of code or library misses).
USER_CACHE_DIR = Path(platformdirs.user_cache_dir("tl_helpers", appauthor=False))


def _setting(variable: str, override: object, argument: str) -> tuple[object, str]:
    """The chosen value and how to name it in a message: the argument, else the variable."""
    if override:
        return override, f"the {argument} argument ({override})"
    value = os.environ.get(variable)
    return value, f"{variable}={value}"


def _writable_folder(chosen: object, named: str, default_hint: str) -> Path:
    """``chosen`` as a folder this user can write to, created if missing; otherwise a
    ``SettingsError`` that names the setting, the path and the fix."""
    path = Path(str(chosen)).expanduser().resolve()
    if path.exists() and not path.is_dir():
        problem = "names a file, not a folder"
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
            problem = None if os.access(path, os.W_OK | os.X_OK) else "is a read-only folder"
        except OSError as error:  # a file in the way further up, no permission, a read-only disk
            problem = f"cannot be created ({error.strerror or error})"
    if problem is None:
        return path
    raise SettingsError(
        f"{named} {problem}: {path}. Point it at a folder you can write to (it is created if "
        f"missing), {default_hint}."
    )


def _writable_setting(variable: str, override: object, argument: str, default: Path) -> Path:
    """The folder ``override`` or ``variable`` names, else ``default``, checked by
    ``_writable_folder`` with a fix that fits where the path came from."""
    chosen, named = _setting(variable, override, argument)
    if chosen:
        hint = f"or unset {variable} to use {display_path(default)}"
    else:
        chosen, named = default, f"the course's folder {display_path(default)}"
        hint = f"or set {variable} to one"
    return _writable_folder(chosen, named, hint)


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder where downloaded datasets are extracted (created on demand); a ``SettingsError``
    naming ``TL_DATA_DIR`` (or the argument) when it is a file or cannot be written to."""
    return _writable_setting("TL_DATA_DIR", override, "data_dir", DATASETS_DIR / "data")


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Folder for derived files that are safe to delete: converted weights, cached features
    (``USER_CACHE_DIR`` unless ``TL_CACHE_DIR`` says otherwise; created on demand; a
    ``SettingsError`` naming ``TL_CACHE_DIR`` when it cannot be used)."""
    return _writable_setting("TL_CACHE_DIR", override, "cache_dir", USER_CACHE_DIR)


def mirror_dir(override: str | os.PathLike[str] | None = None) -> Path | None:
    """The dataset mirror: the argument if given, else ``TL_MIRROR``, else ``None``; a
    ``SettingsError`` when the one given is not an existing folder (a typo must not quietly turn
    into a download)."""
    chosen, named = _setting("TL_MIRROR", override, "mirror")
    if not chosen:
        return None
    path = Path(str(chosen)).expanduser().resolve()
    if not path.is_dir():
        problem = (
            "names a file, not a folder" if path.exists() else "names a folder that does not exist"
        )
        raise SettingsError(
            f"{named} {problem}: {path}. Point it at the folder that holds the datasets' folders "
            "(cats_and_dogs_filtered/, flower_photos/), or unset TL_MIRROR to download them."
        )
    return path


def display_path(
    path: str | os.PathLike[str] | None, start: str | os.PathLike[str] | None = None
) -> str:
    """``path`` as a learner should see it printed: relative to ``start`` (default the project)
    when it is inside or beside it (``datasets/data``, ``../shared/mirror``), ``~/...`` under the
    home folder, else as is. Printed outputs stay free of one machine's absolute paths."""
    if path is None:
        return "not set"
    resolved = Path(path).expanduser().resolve()
    relative = Path(os.path.relpath(resolved, Path(start or PROJECT_ROOT).resolve()))
    if relative.parts[:1] != ("..",) or len([part for part in relative.parts if part == ".."]) <= 1:
        return relative.as_posix()
    home = Path.home().resolve()
    if resolved.is_relative_to(home):
        return "~/" + resolved.relative_to(home).as_posix()
    return resolved.as_posix()
