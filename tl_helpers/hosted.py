"""Colab and Kaggle: getting the course into a hosted runtime without breaking the runtime.

Every notebook opens with the same setup cell (``setup_cell_source``). On Colab or Kaggle it
installs the course from ``course_source()`` and calls ``prepare``, which

1. installs what the course still needs, while the runtime's own TensorFlow, Keras, NumPy,
   IPython, ipykernel and widgets stay as they are whenever they are in the course's ranges
   (Colab's runtime crashes when ipykernel, tornado or pyzmq change under it);
2. points the data and cache folders at writable places (a Kaggle input is read-only);
3. says which device will run the notebook.

Anywhere else the cell only imports TensorFlow quietly (``startup.import_tensorflow``), so its C++
start-up notices stay out of the notebook in any kernel. The course's source is named once, in
``COURSE_REPOSITORY`` and ``COURSE_REF``; the cell and the "Open in Colab / Kaggle" links of the
notebooks and README are written from them (``python -m tl_helpers.hosted write``), and a test
keeps the copies equal.

Standard library only at import: this runs before the course's dependencies are installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "COURSE_REF",
    "COURSE_REPOSITORY",
    "KEPT",
    "SOURCE_VARIABLE",
    "HostedSetup",
    "badges_markdown",
    "course_source",
    "detect_host",
    "hosted_folders",
    "kept_constraints",
    "main",
    "missing_requirements",
    "repository_source",
    "notebook_links",
    "readme_links",
    "prepare",
    "setup_cell_source",
    "write_notebooks",
    "write_readme",
]

# The one place that names where the course comes from.
COURSE_REPOSITORY = "transfer-learning-course/tl-course"  # GitHub owner/name
COURSE_REF = "main"  # branch or tag the links and the setup cell use
SOURCE_VARIABLE = "TL_COURSE_SOURCE"  # overrides the source: a wheel, a local clone, a fork
HOME_VARIABLE = "TL_HOSTED_HOME"  # where data and caches go on a host (e.g. a mounted Drive)
DISTRIBUTION = "tl_helpers"
EXTRAS = ("course",)
# What a hosted runtime owns: changing these under a running kernel needs a restart or crashes it.
KEPT = (
    "tensorflow",
    "keras",
    "numpy",
    "ipython",
    "ipykernel",
    "ipywidgets",
    "jupyter-client",
    "tornado",
    "pyzmq",
)


def course_source() -> str:
    """What pip installs the course from: ``TL_COURSE_SOURCE`` if set, else the repository."""
    return os.environ.get(SOURCE_VARIABLE) or repository_source()


def repository_source() -> str:
    """The course's repository as a pip source (what ``TL_COURSE_SOURCE`` replaces)."""
    return f"git+https://github.com/{COURSE_REPOSITORY}@{COURSE_REF}"


def detect_host() -> str | None:
    """``"colab"`` where ``google.colab`` can be imported, ``"kaggle"`` where Kaggle's kernel
    variable is set, else ``None``."""
    try:
        import google.colab  # noqa: F401  # pyright: ignore[reportMissingImports]

        return "colab"
    except ImportError:
        pass
    return "kaggle" if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") else None


def _requirement_class() -> type:
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip always brings a copy
        from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    return Requirement


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _course_requirements(extras: Sequence[str] = EXTRAS) -> list:
    """The installed course's requirements that apply here, with ``extras``'s."""
    requirement_class = _requirement_class()
    wanted = []
    for text in importlib.metadata.requires(DISTRIBUTION) or []:
        requirement = requirement_class(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in ("", *extras)):
            wanted.append(requirement)
    return wanted


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_requirements(extras: Sequence[str] = EXTRAS) -> list[str]:
    """Requirements of the installed course (and ``extras``) that this environment does not meet,
    as pip requirement strings, without markers."""
    missing = []
    for requirement in _course_requirements(extras):
        version = _installed(requirement.name)
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement.name}{requirement.specifier}")
    return missing


def kept_constraints(extras: Sequence[str] = EXTRAS) -> list[str]:
    """``name==version`` for each of ``KEPT`` installed here and within the course's range, so
    that pip keeps it; one outside its range is left for pip to change (a restart follows)."""
    ranges = {_normal(r.name): r.specifier for r in _course_requirements(extras)}
    pins = []
    for name in KEPT:
        version = _installed(name)
        if version is None:
            continue
        specifier = ranges.get(_normal(name))
        if specifier is None or specifier.contains(version, prereleases=True):
            pins.append(f"{name}=={version}")
    return pins


def hosted_folders(host: str) -> dict[str, Path]:
    """Writable data and cache folders for ``host``: under ``TL_HOSTED_HOME`` if set, else
    ``/content/tl_course`` on Colab and the temporary folder on Kaggle (``/kaggle/working`` is
    saved with the notebook's output, and ``/kaggle/input`` is read-only)."""
    default = Path("/content") if host == "colab" else Path(tempfile.gettempdir())
    home = Path(os.environ.get(HOME_VARIABLE) or default / "tl_course")
    return {"TL_DATA_DIR": home / "data", "TL_CACHE_DIR": home / "cache"}


@dataclass
class HostedSetup:
    """What ``prepare`` did: the host, what it installed, the folders it set, the device."""

    host: str
    installed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # runtime packages pip had to change
    folders: dict[str, str] = field(default_factory=dict)
    device: str = ""

    @property
    def needs_restart(self) -> bool:
        return bool(self.changed)


def _device() -> str:
    from tl_helpers.startup import import_tensorflow

    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = {
            tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus
        }
        return f"{len(gpus)} GPU ({', '.join(sorted(names))}): TensorFlow trains on it"
    return (
        f"CPU only ({os.cpu_count()} cores). Every notebook runs on it; for a faster one choose a "
        "GPU runtime (Colab: Runtime > Change runtime type; Kaggle: Settings > Accelerator)"
    )


def _pip(arguments: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "pip", *arguments], check=True)


def prepare(
    host: str | None = None,
    *,
    install: Callable[[list[str]], None] = _pip,
    show: Callable[[str], None] = print,
) -> HostedSetup | None:
    """Set up a hosted runtime for the course (see the module's notes); ``None`` and nothing done
    when not on Colab or Kaggle. ``install`` runs pip with the arguments it is given."""
    host = host or detect_host()
    if host is None:
        return None
    setup = HostedSetup(host)
    before = {name: _installed(name) for name in KEPT}
    setup.installed = missing_requirements()
    if setup.installed:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
            constraints.write("\n".join(kept_constraints()) + "\n")
        try:
            install(["install", "--quiet", "-c", constraints.name, *setup.installed])
        finally:
            os.unlink(constraints.name)
    setup.changed = [
        f"{name} {before[name]} -> {_installed(name)}"
        for name in KEPT
        if before[name] is not None and _installed(name) != before[name]
    ]
    for variable, folder in hosted_folders(host).items():
        os.environ.setdefault(variable, str(folder))
        Path(os.environ[variable]).mkdir(parents=True, exist_ok=True)
        setup.folders[variable] = os.environ[variable]
    setup.device = _device()
    show(
        f"{host}: the course is installed"
        + (f" (added {len(setup.installed)} packages)" if setup.installed else "")
    )
    for variable, folder in setup.folders.items():
        show(f"  {variable}={folder}")
    show(f"  device: {setup.device}")
    if setup.needs_restart:
        show(
            "  The runtime's " + ", ".join(setup.changed) + " had to change: restart the runtime "
            "(Colab: Runtime > Restart session), then run the notebook from the top."
        )
    return setup


def setup_cell_source() -> str:
    """The first code cell of every notebook."""
    return f'''# Colab or Kaggle: install the course beside the runtime's own TensorFlow, set writable folders
# and say which device runs this notebook. Anywhere else this cell only imports TensorFlow quietly.
import importlib
import os
import sys

try:
    import google.colab  # noqa: F401  (only on Colab)

    HOSTED = True
except ImportError:
    HOSTED = "KAGGLE_KERNEL_RUN_TYPE" in os.environ
if HOSTED:
    default = "{repository_source()}"
    source = os.environ.get("{SOURCE_VARIABLE}", default)
    %pip install --quiet --no-deps "$source"
    importlib.invalidate_caches()
    from tl_helpers.hosted import prepare

    prepare()
from tl_helpers.startup import import_tensorflow

import_tensorflow();  # TensorFlow's C++ start-up notices stay out of the notebook'''


def notebook_links(notebook: str) -> dict[str, str]:
    """Colab's and Kaggle's "open this notebook" addresses for ``notebook`` (a file name)."""
    path = f"{COURSE_REPOSITORY}/blob/{COURSE_REF}/notebooks/{notebook}"
    return {
        "colab": f"https://colab.research.google.com/github/{path}",
        "kaggle": f"https://kaggle.com/kernels/welcome?src=https://github.com/{path}",
    }


def badges_markdown(notebook: str) -> str:
    """The two "Open in" badges for ``notebook``, as Markdown."""
    links = notebook_links(notebook)
    return (
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({links['colab']}) "
        f"[![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]({links['kaggle']})"
    )


SETUP_TAG = "hosted-setup"  # the setup cell's tag
BADGE_MARKER = "colab-badge.svg"


def write_notebooks(folder: str | os.PathLike[str], *, check: bool = False) -> list[Path]:
    """Put the setup cell first among the code cells, and the badges at the top of the first
    Markdown cell, in every numbered notebook of ``folder``. Returns the notebooks that were (or,
    with ``check``, would be) changed."""
    import nbformat

    changed = []
    for path in sorted(Path(folder).glob("[0-9]*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        before = nbformat.writes(notebook)
        title = notebook.cells[0]
        lines = [line for line in title.source.split("\n") if BADGE_MARKER not in line]
        title.source = "\n".join([lines[0], "", badges_markdown(path.name), *lines[1:]]).replace(
            "\n\n\n", "\n\n"
        )
        cells = [c for c in notebook.cells if SETUP_TAG not in c.metadata.get("tags", [])]
        setup = nbformat.v4.new_code_cell(setup_cell_source(), metadata={"tags": [SETUP_TAG]})
        old = next((c for c in notebook.cells if SETUP_TAG in c.metadata.get("tags", [])), None)
        if old is not None and old.source == setup.source:  # keep its outputs and run times
            setup = old
        cells.insert(1, setup)
        notebook.cells = cells
        if nbformat.writes(notebook) != before:
            changed.append(path)
            if not check:
                nbformat.write(notebook, path)
    return changed


README_START, README_END = (
    "<!-- hosted-links: written by python -m tl_helpers.hosted write -->",
    "<!-- /hosted-links -->",
)


def readme_links(folder: str | os.PathLike[str]) -> str:
    """The README's block of "open in Colab / Kaggle" links, one line per notebook of ``folder``."""
    lines = [README_START]
    for path in sorted(Path(folder).glob("[0-9]*.ipynb")):
        links = notebook_links(path.name)
        lines.append(f"- `{path.stem}`: [Colab]({links['colab']}) · [Kaggle]({links['kaggle']})")
    return "\n".join([*lines, README_END])


def write_readme(
    readme: str | os.PathLike[str], folder: str | os.PathLike[str], *, check: bool = False
) -> bool:
    """Replace the links block in ``readme`` with ``readme_links(folder)``; True if it changed."""
    path = Path(readme)
    text = path.read_text()
    if README_START not in text or README_END not in text:
        raise ValueError(
            f"{path} has no {README_START} ... {README_END} block to write the links into"
        )
    before, rest = text.split(README_START, 1)
    after = rest.split(README_END, 1)[1]
    new = before + readme_links(folder) + after
    if new != text and not check:
        path.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    """``python -m tl_helpers.hosted write [FOLDER]`` (re)writes the setup cells and badges;
    ``check [FOLDER]`` only says which notebooks differ. The README beside FOLDER, if it has the
    links block, is written (or checked) too."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("write", "check"):
        print("usage: python -m tl_helpers.hosted write|check [NOTEBOOK_FOLDER]", file=sys.stderr)
        return 2
    folder = argv[1] if len(argv) > 1 else "notebooks"
    changed = write_notebooks(folder, check=argv[0] == "check")
    readme = Path(folder).resolve().parent / "README.md"
    if readme.is_file() and README_START in readme.read_text():
        if write_readme(readme, folder, check=argv[0] == "check"):
            changed.append(readme)
    for path in changed:
        print(("differs: " if argv[0] == "check" else "wrote: ") + str(path))
    return 1 if changed and argv[0] == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
