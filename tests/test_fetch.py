"""Fetching against a real HTTP server on 127.0.0.1: download, resume, checksums, safe extraction."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
import threading
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from conftest import FileServer, write_image
from tl_helpers.data import fetch, locate, safe_extract
from tl_helpers.data.catalog import DatasetSpec
from tl_helpers.errors import DatasetIntegrityError, DatasetUnavailableError, UnsafeArchiveError
from tl_helpers.storage import StorageError

COUNTS = {"cats": 4, "dogs": 5}


def make_tree(root: Path, counts: dict[str, int] = COUNTS) -> Path:
    """A small dataset folder ``root/tiny_pets/<class>/<image>.jpg``."""
    for label, (class_name, count) in enumerate(counts.items()):
        for index in range(count):
            write_image(
                root / "tiny_pets" / class_name / f"{class_name}.{index}.jpg",
                seed=10 * label + index,
            )
    return root / "tiny_pets"


def tgz_bytes(source_parent: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        bundle.add(source_parent / "tiny_pets", arcname="tiny_pets")
    return buffer.getvalue()


def zip_bytes(source_parent: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted((source_parent / "tiny_pets").rglob("*")):
            bundle.write(path, path.relative_to(source_parent).as_posix())
    return buffer.getvalue()


def make_spec(
    server: FileServer,
    archive: str,
    payload: bytes,
    *,
    publish_checksum: bool = True,
    manifest: Path | None = None,
) -> DatasetSpec:
    server.files[f"/{archive}"] = payload
    return DatasetSpec(
        name="tiny_pets",
        title="Tiny pets (generated)",
        url=f"{server.base_url}/{archive}",
        archive=archive,
        archive_bytes=len(payload) if publish_checksum else None,
        archive_sha256=hashlib.sha256(payload).hexdigest() if publish_checksum else None,
        folder="tiny_pets",
        class_names=tuple(COUNTS),
        expected_counts=dict(COUNTS),
        file_manifest=manifest,
        split={"kind": "stratified", "fractions": [0.5, 0.25, 0.25]},
        license="generated for tests",
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    parent = tmp_path / "source"
    make_tree(parent)
    return parent


@pytest.fixture(autouse=True)
def no_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TL_MIRROR", raising=False)


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_download_verify_extract_then_nothing_to_do(http_server, source, tmp_path, capsys, kind):
    payload = tgz_bytes(source) if kind == "tgz" else zip_bytes(source)
    spec = make_spec(http_server, f"tiny_pets.{kind}", payload)
    data_dir = tmp_path / "data"

    root = fetch(spec, data_dir=data_dir)
    assert root == data_dir / "tiny_pets" / "tiny_pets"
    assert sorted(p.name for p in (root / "dogs").iterdir()) == sorted(
        f"dogs.{i}.jpg" for i in range(5)
    )
    first = capsys.readouterr().out
    assert "downloading" in first and "9 images" in first

    assert fetch(spec, data_dir=data_dir) == root
    second = capsys.readouterr().out
    assert "nothing to do" in second
    assert len(http_server.requests) == 1, "the second call must not download again"
    assert locate(spec, data_dir=data_dir) == root


def test_interrupted_download_resumes_and_never_leaves_a_dataset(http_server, source, tmp_path):
    payload = tgz_bytes(source)
    spec = make_spec(http_server, "tiny_pets.tgz", payload)
    http_server.cut_after["/tiny_pets.tgz"] = len(payload) // 3
    data_dir = tmp_path / "data"

    with pytest.raises(DatasetUnavailableError, match="run again to resume"):
        fetch(spec, data_dir=data_dir, verbose=False)
    partial = data_dir / "downloads" / "tiny_pets.tgz.part"
    assert partial.stat().st_size == len(payload) // 3
    assert not (data_dir / "tiny_pets" / "tiny_pets").exists()
    assert locate(spec, data_dir=data_dir) is None

    root = fetch(spec, data_dir=data_dir, verbose=False)
    assert http_server.requests[-1][1] == f"bytes={len(payload) // 3}-", (
        "the second try must resume with Range"
    )
    assert (data_dir / "downloads" / "tiny_pets.tgz").read_bytes() == payload
    assert not partial.exists()
    assert sum(1 for _ in root.rglob("*.jpg")) == 9


def test_server_without_range_support_restarts_cleanly(http_server, source, tmp_path):
    payload = tgz_bytes(source)
    spec = make_spec(http_server, "tiny_pets.tgz", payload)
    http_server.cut_after["/tiny_pets.tgz"] = 100
    http_server.honour_range = False
    with pytest.raises(DatasetUnavailableError):
        fetch(spec, data_dir=tmp_path, verbose=False)
    fetch(spec, data_dir=tmp_path, verbose=False)
    assert (tmp_path / "downloads" / "tiny_pets.tgz").read_bytes() == payload


def test_wrong_checksum_is_rejected_and_deleted(http_server, source, tmp_path):
    payload = tgz_bytes(source)
    spec = replace(make_spec(http_server, "tiny_pets.tgz", payload), archive_sha256="0" * 64)
    with pytest.raises(DatasetIntegrityError, match="sha256"):
        fetch(spec, data_dir=tmp_path, verbose=False)
    assert not (tmp_path / "downloads" / "tiny_pets.tgz").exists(), (
        "a bad archive must not be reused"
    )
    assert not (tmp_path / "tiny_pets" / "tiny_pets").exists()


def test_checksum_recorded_after_first_good_download_is_checked_later(
    http_server, source, tmp_path
):
    payload = zip_bytes(source)
    spec = make_spec(http_server, "tiny_pets.zip", payload, publish_checksum=False)
    fetch(spec, data_dir=tmp_path, verbose=False)
    recorded = (tmp_path / "recorded_checksums.json").read_text()
    assert hashlib.sha256(payload).hexdigest() in recorded

    # Later use: the extracted copy is gone and a different archive sits in downloads/.
    shutil.rmtree(tmp_path / "tiny_pets" / "tiny_pets")
    (tmp_path / "downloads" / "tiny_pets.zip").write_bytes(payload[:-10] + b"0123456789")
    with pytest.raises(DatasetIntegrityError, match="recorded after the first good download"):
        fetch(spec, data_dir=tmp_path, verbose=False)


def test_truncated_archive_gives_clear_error(http_server, source, tmp_path):
    payload = tgz_bytes(source)
    spec = make_spec(http_server, "tiny_pets.tgz", payload, publish_checksum=False)
    (tmp_path / "downloads").mkdir(parents=True)
    (tmp_path / "downloads" / "tiny_pets.tgz").write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DatasetIntegrityError, match="truncated or corrupt"):
        fetch(spec, data_dir=tmp_path, verbose=False)
    assert not (tmp_path / "tiny_pets" / "tiny_pets").exists()
    assert scratch_left(tmp_path / "tiny_pets") == []


def scratch_left(home: Path) -> list[Path]:
    """Scratch folders of extraction (``storage.atomic_path``'s, or older ``.extracting``)."""
    return sorted(path for path in home.glob(".*") if path.is_dir())


def test_archive_with_an_undecodable_image_is_not_installed(http_server, source, tmp_path):
    (source / "tiny_pets" / "cats" / "cats.0.jpg").write_bytes(
        b"\xff\xd8\xff\xe0 not really a jpeg"
    )
    spec = make_spec(http_server, "tiny_pets.tgz", tgz_bytes(source))
    with pytest.raises(DatasetIntegrityError, match="cats.0.jpg"):
        fetch(spec, data_dir=tmp_path, verbose=False)
    assert not (tmp_path / "tiny_pets" / "tiny_pets").exists()
    assert scratch_left(tmp_path / "tiny_pets") == []


def test_archive_with_wrong_counts_is_not_installed(http_server, source, tmp_path):
    (source / "tiny_pets" / "dogs" / "dogs.4.jpg").unlink()
    spec = make_spec(http_server, "tiny_pets.tgz", tgz_bytes(source))
    with pytest.raises(DatasetIntegrityError, match=r"dogs: 4 \(expected 5\)"):
        fetch(spec, data_dir=tmp_path, verbose=False)


def test_leftovers_of_an_interrupted_extraction_are_cleaned(http_server, source, tmp_path):
    spec = make_spec(http_server, "tiny_pets.tgz", tgz_bytes(source))
    # Killed mid-extraction: scratch folders (this version's and an older one's), and an
    # incomplete copy without a stamp.
    home = tmp_path / "tiny_pets"
    (home / ".extracting" / "tiny_pets").mkdir(parents=True)
    write_image(
        home / ".tiny_pets.4242-beefcafe.partial" / "archive" / "tiny_pets" / "cats" / "cats.0.jpg"
    )
    incomplete = home / "tiny_pets" / "cats"
    write_image(incomplete / "cats.0.jpg")
    root = fetch(spec, data_dir=tmp_path, verbose=False)
    assert sum(1 for _ in root.rglob("*.jpg")) == 9
    assert scratch_left(home) == []


def test_no_network_and_no_mirror_says_what_was_tried_and_how_to_fix(source, tmp_path):
    spec = DatasetSpec(
        "tiny_pets",
        "Tiny pets",
        "http://127.0.0.1:9/tiny_pets.tgz",
        "tiny_pets.tgz",
        None,
        None,
        "tiny_pets",
        tuple(COUNTS),
        dict(COUNTS),
        None,
        {"kind": "stratified", "fractions": [0.5, 0.25, 0.25]},
        "x",
    )
    with pytest.raises(DatasetUnavailableError) as caught:
        fetch(spec, data_dir=tmp_path, verbose=False)
    message = str(caught.value)
    for expected in [
        "'tiny_pets'",
        "TL_MIRROR",
        str(tmp_path / "downloads" / "tiny_pets.tgz"),
        "http://127.0.0.1:9/tiny_pets.tgz",
    ]:
        assert expected in message


def test_archive_put_by_hand_is_used_offline(source, tmp_path):
    payload = tgz_bytes(source)
    spec = DatasetSpec(
        "tiny_pets",
        "Tiny pets",
        "http://127.0.0.1:9/tiny_pets.tgz",
        "tiny_pets.tgz",
        len(payload),
        hashlib.sha256(payload).hexdigest(),
        "tiny_pets",
        tuple(COUNTS),
        dict(COUNTS),
        None,
        {"kind": "stratified", "fractions": [0.5, 0.25, 0.25]},
        "x",
    )
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "tiny_pets.tgz").write_bytes(payload)
    root = fetch(spec, data_dir=tmp_path, verbose=False)
    assert sum(1 for _ in root.rglob("*.jpg")) == 9


def test_two_fetches_at_once_give_one_good_copy(http_server, source, tmp_path):
    spec = make_spec(http_server, "tiny_pets.tgz", tgz_bytes(source))
    results, errors = [], []

    def worker() -> None:
        try:
            results.append(fetch(spec, data_dir=tmp_path, verbose=False))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    assert len(http_server.requests) == 1, "only one process may download"
    assert sum(1 for _ in results[0].rglob("*.jpg")) == 9


# ---------------------------------------------------------------------------------------------
# safe_extract on hostile archives
# ---------------------------------------------------------------------------------------------


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as bundle:
        member.size = len(data) if member.isfile() else 0
        bundle.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return archive


@pytest.mark.parametrize("name", ["../escaped.txt", "tiny/../../escaped.txt", "/tmp/absolute.txt"])
def test_tar_member_outside_target_is_refused(tmp_path, name):
    archive = _tar_with(tmp_path, tarfile.TarInfo(name))
    target = tmp_path / "target"
    with pytest.raises(UnsafeArchiveError, match="refusing"):
        safe_extract(archive, target)
    assert not (tmp_path / "escaped.txt").exists()
    assert list(target.iterdir()) == []


def test_zip_member_outside_target_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("fine/ok.txt", "fine")
        bundle.writestr("../escaped.txt", "escaped")
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "target" / "fine").exists(), (
        "nothing is written before every member is checked"
    )


def test_tar_symlink_member_is_refused(tmp_path):
    link = tarfile.TarInfo("tiny_pets/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(UnsafeArchiveError, match="link"):
        safe_extract(_tar_with(tmp_path, link), tmp_path / "target")


def test_path_traversal_archive_served_over_http_is_refused(http_server, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        member = tarfile.TarInfo("tiny_pets/../../escaped.txt")
        member.size = 1
        bundle.addfile(member, io.BytesIO(b"x"))
    spec = make_spec(http_server, "tiny_pets.tgz", buffer.getvalue())
    with pytest.raises(UnsafeArchiveError):
        fetch(spec, data_dir=tmp_path / "data", verbose=False)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "data" / "escaped.txt").exists()


# ---------------------------------------------------------------------------------------------
# Mirrors
# ---------------------------------------------------------------------------------------------


def test_mirror_subset_is_reported_not_refused(tmp_path, capsys, http_server):
    mirror = tmp_path / "mirror"
    make_tree(mirror, {"cats": 2, "dogs": 3})
    spec = make_spec(http_server, "tiny_pets.tgz", b"never downloaded")
    root = fetch(spec, mirror=mirror, data_dir=tmp_path / "data")
    assert root == mirror / "tiny_pets"
    out = capsys.readouterr().out
    assert "a subset" in out and "2 of 4" in out and "3 of 5" in out
    assert http_server.requests == []


def test_mirror_from_environment_variable(tmp_path, monkeypatch, http_server):
    mirror = tmp_path / "mirror"
    make_tree(mirror)
    monkeypatch.setenv("TL_MIRROR", str(mirror))
    spec = make_spec(http_server, "tiny_pets.tgz", b"never downloaded")
    assert fetch(spec, data_dir=tmp_path / "data", verbose=False) == mirror / "tiny_pets"


def test_mirror_without_the_dataset_folder_is_a_clear_error(tmp_path, http_server):
    spec = make_spec(http_server, "tiny_pets.tgz", b"never downloaded")
    with pytest.raises(DatasetUnavailableError, match="has no folder tiny_pets/"):
        fetch(spec, mirror=tmp_path, data_dir=tmp_path / "data")


def test_mirror_file_differing_from_manifest_is_named(tmp_path, http_server):
    mirror = tmp_path / "mirror"
    root = make_tree(mirror)
    manifest = tmp_path / "tiny.sha256"
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.parent.name}/{p.name}"
        for p in sorted(root.rglob("*.jpg"))
    ]
    manifest.write_text("\n".join(lines) + "\n")
    write_image(root / "dogs" / "dogs.2.jpg", seed=999)  # same name, other content
    spec = make_spec(http_server, "tiny_pets.tgz", b"never downloaded", manifest=manifest)
    with pytest.warns(UserWarning, match=r"dogs/dogs\.2\.jpg \(content differs\)"):
        fetch(spec, mirror=mirror, data_dir=tmp_path / "data", verbose=False)


def test_mirror_with_a_broken_image_is_refused_with_its_name(tmp_path, http_server):
    mirror = tmp_path / "mirror"
    root = make_tree(mirror)
    (root / "cats" / "cats.1.jpg").write_bytes(b"")
    spec = make_spec(http_server, "tiny_pets.tgz", b"never downloaded")
    with pytest.raises(DatasetIntegrityError, match=r"cats\.1\.jpg \(empty file"):
        fetch(spec, mirror=mirror, data_dir=tmp_path / "data", verbose=False)


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_disk_filling_up_during_extraction(http_server, source, tmp_path, monkeypatch, kind):
    import errno

    payload = tgz_bytes(source) if kind == "tgz" else zip_bytes(source)
    spec = make_spec(http_server, f"tiny_pets.{kind}", payload)
    module, name = (tarfile, "copyfileobj") if kind == "tgz" else (shutil, "copyfileobj")
    real_copy = getattr(module, name)
    written = []

    def copy_until_full(*args, **kwargs):
        if len(written) >= 3:  # three files fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(args)
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(module, name, copy_until_full)
    with pytest.raises(StorageError, match=r"tiny_pets: the folder .* is full.*TL_DATA_DIR"):
        fetch(spec, data_dir=tmp_path, verbose=False)
    assert not (tmp_path / "tiny_pets" / "tiny_pets").exists(), (
        "no half-extracted dataset may be left"
    )
    assert scratch_left(tmp_path / "tiny_pets") == []

    monkeypatch.setattr(
        module, name, real_copy
    )  # space freed: the kept archive is reused, not downloaded again
    root = fetch(spec, data_dir=tmp_path, verbose=False)
    assert len(list((root / "dogs").iterdir())) == 5 and len(http_server.requests) == 1


# ---------------------------------------------------------------------------------------------
# Without fcntl (as on native Windows): locking and fetching still work
# ---------------------------------------------------------------------------------------------

WITHOUT_FCNTL = textwrap.dedent(
    """
    import json, sys, threading, time
    sys.modules["fcntl"] = None  # what Windows has: importing fcntl fails
    try:
        import fcntl  # noqa: F401
        raise SystemExit("fcntl is still importable")
    except ImportError:
        pass
    import warnings
    warnings.simplefilter("ignore")  # filelock notes that it falls back to a lock file
    import filelock
    assert "Unix" not in filelock.FileLock.__name__, filelock.FileLock
    from pathlib import Path
    from tl_helpers.data import fetch
    from tl_helpers.data.catalog import DatasetSpec
    from tl_helpers.data.locking import dataset_lock

    spec_fields, data_dir = json.loads(sys.argv[1]), Path(sys.argv[2])
    inside, overlaps = [], []

    def hold():
        with dataset_lock(data_dir, "tiny_pets"):
            overlaps.append(len(inside))
            inside.append(1)
            time.sleep(0.2)
            inside.pop()

    threads = [threading.Thread(target=hold) for _ in range(3)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert overlaps == [0, 0, 0], overlaps  # never two holders at once
    spec = DatasetSpec(**spec_fields)
    roots = []
    threads = [threading.Thread(target=lambda: roots.append(fetch(spec, data_dir=data_dir,
                                verbose=False))) for _ in range(2)]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    print(len(set(roots)), sum(1 for _ in roots[0].rglob("*.jpg")))
    """
)


def test_locking_and_fetching_work_where_fcntl_does_not_exist(source, tmp_path):
    payload = tgz_bytes(source)
    spec = make_spec(FileServer(base_url="http://127.0.0.1:9"), "tiny_pets.tgz", payload)
    (tmp_path / "data" / "downloads").mkdir(parents=True)
    (tmp_path / "data" / "downloads" / "tiny_pets.tgz").write_bytes(payload)  # no network needed
    fields = {**asdict(spec), "class_names": list(spec.class_names)}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, json.dumps(fields), str(tmp_path / "data")],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", str(sum(COUNTS.values()))]


def test_a_disk_filling_up_during_the_download_leaves_no_partial_file(
    http_server, source, tmp_path, monkeypatch
):
    import builtins
    import errno

    spec = make_spec(http_server, "tiny_pets.tgz", tgz_bytes(source))
    real_open = builtins.open

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def opening(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        return FullDisk(handle) if str(path).endswith(".part") else handle

    monkeypatch.setattr(builtins, "open", opening)
    with pytest.raises(StorageError, match=r"tiny_pets.tgz: the folder .* is full"):
        fetch(spec, data_dir=tmp_path, verbose=False)
    monkeypatch.setattr(builtins, "open", real_open)
    assert not list(tmp_path.rglob("*.part"))
    root = fetch(spec, data_dir=tmp_path, verbose=False)  # room again: the next run works
    assert sum(1 for _ in root.rglob("*.jpg")) == 9
