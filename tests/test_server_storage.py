"""The hub's storage, without HTTP: immutable commits, shared blobs, verified uploads, safe names."""

from __future__ import annotations

import hashlib
import threading

import pytest

from berthub.server.errors import BadRequest, Conflict, EntryNotFound, PreconditionFailed, RevisionNotFound
from berthub.server.names import validate_path, validate_repo_id
from berthub.server.objects import AddFile, DeletePath, FileEntry
from berthub.server.storage import Storage


@pytest.fixture
def storage(tmp_path) -> Storage:
    return Storage(tmp_path / "root")


def _add(storage: Storage, repo_id: str, path: str, data: bytes, title: str = "add"):
    storage.put_bytes(data)
    return storage.apply(repo_id, "main", [AddFile(FileEntry.regular(path, data))], title=title)


def test_old_commit_keeps_serving_its_files_after_a_new_commit(storage):
    storage.create_repo("acme/tiny")
    first = _add(storage, "acme/tiny", "config.json", b'{"hidden_size": 8}')
    second = _add(storage, "acme/tiny", "config.json", b'{"hidden_size": 16}')
    assert storage.resolve("acme/tiny", "main").id == second.id
    old = storage.resolve("acme/tiny", first.id).files["config.json"]
    assert storage.open_content(old).read() == b'{"hidden_size": 8}'
    assert [commit.id for commit in storage.history("acme/tiny")][:2] == [second.id, first.id]


def test_identical_content_in_two_repos_is_stored_once(storage):
    for repo in ("acme/one", "acme/two"):
        storage.create_repo(repo)
        _add(storage, repo, "vocab.txt", b"[PAD]\n[UNK]\n")
    blobs = [path for path in (storage.root / "blobs").rglob("*") if path.is_file()]
    assert len(blobs) == 1


def test_upload_whose_content_does_not_match_its_announced_sha256_is_not_stored(storage):
    announced = hashlib.sha256(b"the real weights").hexdigest()
    writer = storage.blob_writer(expected_sha256=announced, expected_size=16)
    writer.write(b"tampered weights")
    with pytest.raises(BadRequest, match="hashes to"):
        writer.finish()
    assert not storage.has_blob(announced)
    assert list(storage.tmp_dir.iterdir()) == []


def test_commit_naming_content_never_uploaded_is_refused_and_main_is_unchanged(storage):
    storage.create_repo("acme/tiny")
    before = storage.resolve("acme/tiny", "main").id
    ghost = FileEntry.large("model.safetensors", "ab" * 32, 1234)
    with pytest.raises(BadRequest, match="never uploaded"):
        storage.apply("acme/tiny", "main", [AddFile(ghost)], title="ghost")
    assert storage.resolve("acme/tiny", "main").id == before


def test_commit_based_on_a_stale_parent_is_refused(storage):
    storage.create_repo("acme/tiny")
    stale = storage.resolve("acme/tiny", "main").id
    _add(storage, "acme/tiny", "a.txt", b"a")
    with pytest.raises(PreconditionFailed):
        storage.apply("acme/tiny", "main", [DeletePath("a.txt")], title="rm", parent=stale)


def test_concurrent_commits_all_land_one_after_the_other(storage):
    storage.create_repo("acme/busy")
    threads = [threading.Thread(target=_add, args=(storage, "acme/busy", f"f{i}.txt", b"x%d" % i, f"c{i}"))
               for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    head = storage.resolve("acme/busy", "main")
    assert sorted(head.files) == sorted(f"f{i}.txt" for i in range(8))
    assert len(storage.history("acme/busy")) == 9  # 8 commits + the initial one, each on the previous


def test_unknown_revision_and_deleting_a_missing_file_say_so(storage):
    storage.create_repo("acme/tiny")
    with pytest.raises(RevisionNotFound):
        storage.resolve("acme/tiny", "v9")
    with pytest.raises(EntryNotFound):
        storage.apply("acme/tiny", "main", [DeletePath("nope.txt")], title="rm")


def test_creating_an_existing_repo_is_a_conflict(storage):
    storage.create_repo("acme/tiny")
    with pytest.raises(Conflict):
        storage.create_repo("acme/tiny")


def test_recover_removes_interrupted_uploads_and_keeps_revisions(storage, tmp_path):
    storage.create_repo("acme/tiny")
    head = _add(storage, "acme/tiny", "config.json", b"{}").id
    writer = storage.blob_writer()
    writer.write(b"half of a file")  # the process dies here: no finish(), no abort()
    reopened = Storage(tmp_path / "root")
    assert reopened.recover() == 1
    assert list(reopened.tmp_dir.iterdir()) == []
    assert reopened.resolve("acme/tiny", "main").id == head


@pytest.mark.parametrize("path", ["../etc/passwd", "a/../../b", "/etc/passwd", "C:/x", "a\\b", "a\x00b",
                                  "", "a//b", "./a", ".git/config", "a/.git/HEAD"])
def test_paths_that_could_escape_the_repo_are_refused(path):
    with pytest.raises(BadRequest, match="Invalid file path"):
        validate_path(path)


@pytest.mark.parametrize("repo_id", ["bert-base-uncased", "a/b/c", "../x", "acme/..", "acme/a..b", "acme/x--y",
                                     "acme/-x", "acme/x.git", "api/x", "acme/x y", "acme/"])
def test_repo_ids_must_be_namespaced_and_safe(repo_id):
    with pytest.raises(BadRequest, match="Invalid repo id"):
        validate_repo_id(repo_id)


def test_ordinary_names_are_accepted():
    assert validate_repo_id("sentence-transformers/all-MiniLM-L6-v2")
    assert validate_path("1_Pooling/config.json")
