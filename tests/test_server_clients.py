"""The stock clients, unmodified, against `berthub serve`: huggingface_hub uploads and downloads,
transformers loads, and `berthub push` publishes the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

pytestmark = pytest.mark.slow


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def pushed(hub_server, hub_minilm):
    """all-MiniLM-L6-v2 uploaded with HfApi.upload_folder (conftest): (api, repo_id, commit id)."""
    return HfApi(endpoint=hub_server.endpoint, token=hub_server.token), *hub_minilm


def test_hf_hub_download_returns_the_uploaded_weights_byte_identical(pushed, hub_server, minilm_dir, tmp_path):
    _, repo_id, _ = pushed
    path = hf_hub_download(repo_id, "model.safetensors", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    assert _sha256(path) == _sha256(minilm_dir / "model.safetensors")


def test_snapshot_download_returns_every_file_byte_identical(pushed, hub_server, minilm_dir, tmp_path):
    _, repo_id, commit = pushed
    folder = snapshot_download(repo_id, endpoint=hub_server.endpoint, cache_dir=tmp_path)
    assert Path(folder).name == commit
    assert _files(Path(folder)) == _files(minilm_dir)


def test_model_info_and_listings_describe_the_upload(pushed, hub_server, minilm_dir):
    api, repo_id, commit = pushed
    info = api.model_info(repo_id, files_metadata=True)
    assert info.sha == commit
    weights = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert weights.lfs.sha256 == _sha256(minilm_dir / "model.safetensors")
    assert weights.size == (minilm_dir / "model.safetensors").stat().st_size
    assert "sentence-transformers" in info.tags  # from the README's YAML metadata
    assert sorted(api.list_repo_files(repo_id)) == sorted(_files(minilm_dir))
    assert repo_id in [model.id for model in api.list_models(search=repo_id.split("/")[1])]


def test_transformers_loads_from_the_server_with_the_outputs_of_the_local_folder(pushed, hub_server, minilm_dir,
                                                                                  tmp_path):
    _, repo_id, _ = pushed
    script = (
        "import sys, torch\n"
        "from transformers import AutoModel, AutoTokenizer\n"
        "def embed(name):\n"
        "    tok, model = AutoTokenizer.from_pretrained(name), AutoModel.from_pretrained(name).eval()\n"
        "    with torch.no_grad():\n"
        "        return model(**tok(['a self-hosted hub'], return_tensors='pt')).last_hidden_state\n"
        "remote, local = embed(sys.argv[1]), embed(sys.argv[2])\n"
        "print(float((remote - local).abs().max()))\n"
    )
    env = hub_server.client_env()
    env["HF_HOME"] = str(tmp_path / "hf-home")
    result = subprocess.run([sys.executable, "-c", script, repo_id, str(minilm_dir)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.strip().splitlines()[-1]) == 0.0


def test_second_push_makes_a_new_commit_and_the_old_commit_still_serves_the_old_bytes(hub_server, tmp_path):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("versions")
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b'{"hidden_size": 384}', path_in_repo="config.json", repo_id=repo_id)
    second = api.upload_file(path_or_fileobj=b'{"hidden_size": 768}', path_in_repo="config.json", repo_id=repo_id)
    assert first.oid != second.oid
    old = hf_hub_download(repo_id, "config.json", revision=first.oid, endpoint=hub_server.endpoint,
                          cache_dir=tmp_path)
    new = hf_hub_download(repo_id, "config.json", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    assert json.loads(Path(old).read_text()) == {"hidden_size": 384}
    assert json.loads(Path(new).read_text()) == {"hidden_size": 768}
    assert [c.commit_id for c in api.list_repo_commits(repo_id)][:2] == [second.oid, first.oid]


def test_berthub_push_of_the_same_folder_publishes_it(hub_server, minilm_dir, tmp_path):
    repo_id = hub_server.unique_repo_id("pushed")
    result = subprocess.run([sys.executable, "-m", "berthub", "push", str(minilm_dir), repo_id,
                             "--commit-message", "MiniLM via berthub push"],
                            env=hub_server.client_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = snapshot_download(repo_id, endpoint=hub_server.endpoint, cache_dir=tmp_path)
    assert _files(Path(folder)) == _files(minilm_dir)
    api = HfApi(endpoint=hub_server.endpoint)
    assert api.list_repo_commits(repo_id)[0].title == "MiniLM via berthub push"


def test_missing_repo_revision_and_file_raise_the_hubs_own_errors(pushed, hub_server, tmp_path):
    _, repo_id, _ = pushed
    download = dict(endpoint=hub_server.endpoint, cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json", **download)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "config.json", revision="v404", **download)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.bin", **download)


def test_two_clients_committing_at_once_both_land(hub_server):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("busy")
    api.create_repo(repo_id)
    barrier = threading.Barrier(2)
    commits = {}

    def upload(name: str) -> None:
        client = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
        barrier.wait()
        commits[name] = client.upload_file(path_or_fileobj=name.encode(), path_in_repo=name, repo_id=repo_id).oid

    threads = [threading.Thread(target=upload, args=(name,)) for name in ("a.txt", "b.txt")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(api.list_repo_files(repo_id)) == ["a.txt", "b.txt"]
    history = [commit.commit_id for commit in api.list_repo_commits(repo_id)]
    assert set(history[:2]) == set(commits.values())  # both commits, one on top of the other


def test_a_tag_names_a_commit_that_stays_downloadable(hub_server, tmp_path):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("tagged")
    api.create_repo(repo_id)
    v1 = api.upload_file(path_or_fileobj=b"v1", path_in_repo="notes.txt", repo_id=repo_id)
    api.create_tag(repo_id, tag="v1.0")
    api.upload_file(path_or_fileobj=b"v2", path_in_repo="notes.txt", repo_id=repo_id)
    tagged = hf_hub_download(repo_id, "notes.txt", revision="v1.0", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    assert Path(tagged).read_bytes() == b"v1"
    assert [(tag.name, tag.target_commit) for tag in api.list_repo_refs(repo_id).tags] == [("v1.0", v1.oid)]


def test_delete_repo_removes_it(hub_server):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("doomed")
    api.create_repo(repo_id)
    api.delete_repo(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)
