"""Command line: ``python -m tl_helpers data fetch NAME`` and ``python -m tl_helpers data info NAME``.

Errors raised on purpose (``CourseError``) are printed as one readable message with exit code 2,
never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tl_helpers import data
from tl_helpers.errors import CourseError


def _data_fetch(args: argparse.Namespace) -> int:
    data.fetch(args.name, mirror=args.mirror, data_dir=args.data_dir)
    return 0


def _data_info(args: argparse.Namespace) -> int:
    spec = data.get_spec(args.name)
    print(f"{spec.name}: {spec.title}")
    print(f"  source:  {spec.url}")
    print(f"  licence: {spec.license}")
    root = data.locate(args.name, mirror=args.mirror, data_dir=args.data_dir)
    if root is None:
        print(f"  not fetched yet: run `python -m tl_helpers data fetch {spec.name}` (or set TL_MIRROR)")
        return 1
    print(f"  location: {root}")
    splits = data.dataset_splits(spec.name, root)
    counts = splits.counts()
    header = f"  {'class':<12}" + "".join(f"{split:>12}" for split in counts)
    print(header)
    for class_name in splits.class_names:
        print(f"  {class_name:<12}" + "".join(f"{counts[split][class_name]:>12}" for split in counts))
    print(f"  {'total':<12}" + "".join(f"{sum(counts[split].values()):>12}" for split in counts))
    return 0


def _data_manifest(args: argparse.Namespace) -> int:
    spec = data.get_spec(args.name)
    if spec.file_manifest is None:
        raise CourseError(f"dataset {spec.name!r} has no file_manifest entry in the catalog")
    root = data.locate(args.name, mirror=args.mirror, data_dir=args.data_dir)
    if root is None:
        raise CourseError(f"no copy of {spec.name!r} found: set TL_MIRROR or fetch it first")
    data.check_dataset(spec, root, strict=True)  # only a complete, decodable copy may define the list
    count = data.write_manifest(root, spec, spec.file_manifest)
    print(f"wrote {count} checksums to {spec.file_manifest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tl_helpers", description="Transfer-learning course helpers.")
    commands = parser.add_subparsers(dest="command", required=True)

    data_parser = commands.add_parser("data", help="fetch and inspect the course datasets")
    data_commands = data_parser.add_subparsers(dest="data_command", required=True)
    for name, handler, text in [
        ("fetch", _data_fetch, "download (or take from the mirror) and check a dataset"),
        ("info", _data_info, "where a dataset lives and its counts per split and class"),
        ("manifest", _data_manifest, "maintainers: rewrite the per-file checksum list from a complete copy"),
    ]:
        sub = data_commands.add_parser(name, help=text, description=text)
        sub.add_argument("name", help=f"dataset name: {', '.join(data.dataset_names())}")
        sub.add_argument("--mirror", help="folder holding the dataset folders (default: $TL_MIRROR)")
        sub.add_argument("--data-dir", help="where downloads are extracted (default: $TL_DATA_DIR or datasets/data)")
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
