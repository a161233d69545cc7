"""rag.index.manifest: file checksums and their verification, the build lock, leftovers, a hostile CURRENT."""

from __future__ import annotations

import multiprocessing

import pytest

from rag.errors import IndexMismatchError, IndexNotFoundError
from rag.index.manifest import build_lock, file_checksums, live_build, remove_leftovers, verify_build


def _build(folder, name="build-1"):
    build = folder / name
    (build / "bm25").mkdir(parents=True)
    (build / "vectors.npy").write_bytes(b"\x01" * 100)
    (build / "bm25" / "size.json").write_text('{"size": 3}')
    manifest = {"files": file_checksums(build)}
    (build / "manifest.json").write_text("{}")
    return build, manifest


def test_checksums_list_every_file_but_the_manifest(tmp_path):
    build, manifest = _build(tmp_path)
    assert sorted(manifest["files"]) == ["bm25/size.json", "vectors.npy"]
    assert manifest["files"]["vectors.npy"]["size"] == 100
    assert verify_build(build, manifest) == []


def test_verify_names_missing_resized_and_changed_files(tmp_path):
    build, manifest = _build(tmp_path)
    (build / "vectors.npy").write_bytes(b"\x02" * 100)
    (build / "bm25" / "size.json").unlink()
    assert verify_build(build, manifest) == ["bm25/size.json is missing", "vectors.npy does not match its checksum"]
    (build / "vectors.npy").write_bytes(b"\x02" * 10)
    assert "vectors.npy has 10 bytes, the manifest says 100" in verify_build(build, manifest)
    assert verify_build(build, {}) == ["build-1 lists no file checksums"]


@pytest.mark.parametrize("current", ["../elsewhere/build-1", "/tmp/build-1", "", "build-1/../build-1", "x"])
def test_current_names_only_a_build_folder_of_its_own(tmp_path, current):
    _build(tmp_path)
    (tmp_path / "CURRENT").write_text(current)
    with pytest.raises(IndexMismatchError, match="damaged"):
        live_build(tmp_path)
    (tmp_path / "CURRENT").write_text("build-1\n")
    assert live_build(tmp_path) == tmp_path / "build-1"
    (tmp_path / "CURRENT").unlink()
    with pytest.raises(IndexNotFoundError):
        live_build(tmp_path)


def test_remove_leftovers_keeps_only_the_live_build(tmp_path):
    _build(tmp_path, "build-live")
    _build(tmp_path, "build-old")
    (tmp_path / ".tmp-build-killed").mkdir()
    (tmp_path / ".CURRENT.abc123").write_text("build-old")
    (tmp_path / "CURRENT").write_text("build-live\n")
    assert remove_leftovers(tmp_path) == [".tmp-build-killed", "build-old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", "build-live"]


def _try_lock(folder, queue):
    with build_lock(folder, wait=False) as held:
        queue.put(held)


def test_the_build_lock_is_exclusive_between_processes(tmp_path):
    queue = multiprocessing.get_context("fork").Queue()
    with build_lock(tmp_path) as held:
        assert held
        p = multiprocessing.get_context("fork").Process(target=_try_lock, args=(tmp_path, queue))
        p.start()
        p.join(30)
        assert queue.get(timeout=5) is False
    p = multiprocessing.get_context("fork").Process(target=_try_lock, args=(tmp_path, queue))
    p.start()
    p.join(30)
    assert queue.get(timeout=5) is True
