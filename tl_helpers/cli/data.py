"""The ``data`` commands: fetch a course dataset, say where it lives and what it holds, and (for
maintainers) rewrite its per-file checksum list. No TensorFlow: they start instantly."""

from __future__ import annotations

import argparse
from pathlib import Path

from tl_helpers import config, data
from tl_helpers.errors import CourseError

__all__ = ["add_data_commands"]


def _fetch(args: argparse.Namespace) -> int:
    data.fetch(args.name, mirror=args.mirror, data_dir=args.data_dir)
    return 0


def _info(args: argparse.Namespace) -> int:
    spec = data.get_spec(args.name)
    print(f"{spec.name}: {spec.title}")
    print(f"  source:  {spec.url}")
    print(f"  licence: {spec.license}")
    root = data.locate(args.name, mirror=args.mirror, data_dir=args.data_dir)
    if root is None:
        mirror = config.mirror_dir(args.mirror)
        where = (
            f"not in the mirror {config.display_path(mirror, Path.cwd())} (it has no {spec.folder}/) "
            "and not fetched yet"
            if mirror
            else "not fetched yet (or set TL_MIRROR to a folder that holds it)"
        )
        print(f"  {where}: run `python -m tl_helpers data fetch {spec.name}`")
        return 1
    print(f"  location: {config.display_path(root, Path.cwd())}")
    splits = data.dataset_splits(spec.name, root)
    counts = splits.counts()
    print(f"  {'class':<12}" + "".join(f"{split:>12}" for split in counts))
    for class_name in splits.class_names:
        print(
            f"  {class_name:<12}" + "".join(f"{counts[split][class_name]:>12}" for split in counts)
        )
    print(f"  {'total':<12}" + "".join(f"{sum(counts[split].values()):>12}" for split in counts))
    return 0


def _manifest(args: argparse.Namespace) -> int:
    spec = data.get_spec(args.name)
    if spec.file_manifest is None:
        raise CourseError(f"dataset {spec.name!r} has no file_manifest entry in the catalog")
    root = data.locate(args.name, mirror=args.mirror, data_dir=args.data_dir)
    if root is None:
        raise CourseError(f"no copy of {spec.name!r} found: set TL_MIRROR or fetch it first")
    # Only a complete, decodable copy may define the list.
    data.check_dataset(spec, root, strict=True)
    count = data.write_manifest(root, spec, spec.file_manifest)
    print(f"wrote {count} checksums to {spec.file_manifest}")
    return 0


def add_data_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``data fetch|info|manifest NAME`` to the command line's sub-commands."""
    parser = commands.add_parser("data", help="fetch and inspect the course datasets")
    data_commands = parser.add_subparsers(dest="data_command", required=True)
    for name, handler, text in [
        ("fetch", _fetch, "download (or take from the mirror) and check a dataset"),
        ("info", _info, "where a dataset lives and its counts per split and class"),
        (
            "manifest",
            _manifest,
            "maintainers: rewrite the per-file checksum list from a complete copy",
        ),
    ]:
        sub = data_commands.add_parser(name, help=text, description=text)
        sub.add_argument("name", help=f"dataset name: {', '.join(data.dataset_names())}")
        sub.add_argument(
            "--mirror", help="folder holding the dataset folders (default: $TL_MIRROR)"
        )
        sub.add_argument(
            "--data-dir",
            help="where downloads are extracted (default: $TL_DATA_DIR or datasets/data)",
        )
        sub.set_defaults(handler=handler)
