"""Unpacking an archive safely: every member must land inside the target folder, and links,
devices and absolute paths are refused before anything is written."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from tl_helpers.errors import DatasetIntegrityError, UnsafeArchiveError

__all__ = ["safe_extract"]


def _member_destination(target: Path, name: str) -> Path:
    """Where an archive member would land; refuses anything outside ``target``."""
    if (
        not name
        or name.startswith(("/", "\\"))
        or PurePosixPath(name).is_absolute()
        or (len(name) > 1 and name[1] == ":")
    ):
        raise UnsafeArchiveError(
            f"archive member {name!r} has an absolute path; refusing to extract the archive"
        )
    destination = (target / name).resolve()
    if not destination.is_relative_to(target.resolve()):
        raise UnsafeArchiveError(
            f"archive member {name!r} would be written outside {target}; refusing to extract the archive"
        )
    return destination


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip or tar(.gz) archive into ``target``, refusing any member that would land
    outside it (``..``, absolute paths) and any link or device member. Every member is checked
    before anything is written."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                members = bundle.infolist()
                for member in members:
                    _member_destination(target, member.filename)
                    if (member.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchiveError(
                            f"archive member {member.filename!r} is a symbolic link; refusing to extract"
                        )
                for member in members:
                    bundle.extract(member, target)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as bundle:
                members = bundle.getmembers()
                for member in members:
                    _member_destination(target, member.name)
                    if not (member.isfile() or member.isdir()):
                        raise UnsafeArchiveError(
                            f"archive member {member.name!r} is a link or special file; refusing to extract"
                        )
                bundle.extractall(target, members=members, filter="data")
        else:
            raise DatasetIntegrityError(
                f"{archive} is not a readable zip or tar archive (truncated or corrupt); delete it and download again"
            )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DatasetIntegrityError(
            f"{archive} is truncated or corrupt ({error}); delete it and download again"
        ) from error
    except OSError as error:
        if "zlib" in str(error).lower() or "compressed file ended" in str(error).lower():
            raise DatasetIntegrityError(
                f"{archive} is truncated or corrupt ({error}); delete it and download again"
            ) from error
        raise
