"""`berthub serve --mirror-of URL`: a pull-once mirror in front of an upstream hub. 16 processes loading
the same model cold cause one upstream download of each file; with the upstream stopped they still
load; branches are refreshed after --mirror-refresh, commits stay pinned, only allowed repos are
mirrored, answers never point at the upstream, and berthub's registry names work through the mirror."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import torch
from hubserver import running_hub
from huggingface_hub import HfApi

from berthub import push
from berthub.model.bert import BertModel
from berthub.model.config import BertConfig

PROCESSES = 16
REPO_ID = "google-bert/bert-base-uncased"  # berthub's registry name bert-base-uncased
RESOLVE_GETS = re.compile(r'berthub_http_requests_total\{method="GET",route="/\{org\}/\{name\}/resolve/\{revision\}/'
                          r'\{path:path\}",status="200"\} ([0-9.]+)')
LOADER = """
import hashlib, json, sys
from huggingface_hub import snapshot_download
folder = snapshot_download(sys.argv[2], endpoint=sys.argv[1], cache_dir=sys.argv[3])
import pathlib
print(json.dumps({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in pathlib.Path(folder).iterdir()}))
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, minilm_dir) -> Path:
    """A small BERT saved by berthub (MiniLM's real vocabulary, 2 layers of width 32)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)
    BertModel(config).save_pretrained(folder)
    (folder / "vocab.txt").write_bytes((minilm_dir / "vocab.txt").read_bytes())
    return folder


def _load_everywhere(endpoint: str, caches: Path) -> list[dict[str, str]]:
    """PROCESSES processes snapshot_download REPO_ID from `endpoint` at once, each into an empty cache."""
    loaders = [subprocess.Popen([sys.executable, "-c", LOADER, endpoint, REPO_ID, str(caches / f"c{index}")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for index in range(PROCESSES)]
    results = []
    for loader in loaders:
        out, err = loader.communicate(timeout=240)
        assert loader.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _resolve_gets(hub) -> float:
    text = requests.get(f"{hub.endpoint}/metrics", headers={"Authorization": f"Bearer {hub.token}"}).text
    found = RESOLVE_GETS.search(text)
    return float(found.group(1)) if found else 0.0


@pytest.mark.slow
def test_a_mirror_downloads_each_file_once_for_16_processes_serves_them_with_the_upstream_stopped_and_refreshes(
        tmp_path, tiny_model, monkeypatch):
    with running_hub(tmp_path / "upstream") as upstream:
        for repo_id in (REPO_ID, "google-bert/refreshed", "acme/not-allowed"):
            push(tiny_model, repo_id, endpoint=upstream.endpoint, token=upstream.token)
        files = HfApi(endpoint=upstream.endpoint).list_repo_files(REPO_ID)
        reference = HfApi(endpoint=upstream.endpoint)
        expected = {name: hashlib.sha256(Path(reference.hf_hub_download(
            REPO_ID, name, cache_dir=tmp_path / "reference")).read_bytes()).hexdigest() for name in files}
        mirror_args = ("--mirror-of", upstream.endpoint, "--mirror-allow", "google-bert/*", "--mirror-refresh", "2")
        with running_hub(tmp_path / "mirror", extra_args=mirror_args,
                         extra_env={"BERTHUB_MIRROR_TOKEN": upstream.token}) as mirror:
            _branches_refresh_and_commits_stay_pinned(upstream, mirror)
            before = _resolve_gets(upstream)
            assert _load_everywhere(mirror.endpoint, tmp_path / "cold") == [expected] * PROCESSES
            assert _resolve_gets(upstream) - before == len(files)  # one upstream download of each file
            assert requests.get(f"{mirror.endpoint}/api/models/acme/not-allowed").status_code == 404
            answers = [requests.get(f"{mirror.endpoint}/api/models/{REPO_ID}{path}").text
                       for path in ("", "/tree/main?recursive=true", "/refs", "/commits/main")]
            assert not any(f":{upstream.port}" in answer for answer in answers)
            assert HfApi(endpoint=mirror.endpoint).model_info(REPO_ID).sha == \
                HfApi(endpoint=upstream.endpoint).model_info(REPO_ID).sha

            upstream.stop()
            assert _load_everywhere(mirror.endpoint, tmp_path / "offline") == [expected] * PROCESSES
            never = requests.get(f"{mirror.endpoint}/api/models/google-bert/bert-large-cased")
            assert never.status_code == 503 and "upstream" in never.json()["error"]
            monkeypatch.setenv("BERTHUB_ENDPOINT", mirror.endpoint)
            monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "berthub-cache"))
            loaded = BertModel.from_pretrained("bert-base-uncased")  # the registry name, through the mirror
            original = BertModel.from_pretrained(tiny_model)
            assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                         original.state_dict().values(), strict=True))


def _branches_refresh_and_commits_stay_pinned(upstream, mirror) -> None:
    """main is served as held for --mirror-refresh (2 s), then follows the upstream; old commits stay."""
    repo_id = "google-bert/refreshed"
    reader = HfApi(endpoint=mirror.endpoint)
    first = reader.model_info(repo_id).sha
    started = time.monotonic()
    second = HfApi(endpoint=upstream.endpoint, token=upstream.token).upload_file(
        path_or_fileobj=b"new\n", path_in_repo="notes.txt", repo_id=repo_id).oid
    if time.monotonic() - started < 1.5:
        assert reader.model_info(repo_id).sha == first  # within the refresh time: what is held
    time.sleep(2.1)
    assert reader.model_info(repo_id).sha == second
    assert reader.model_info(repo_id, revision=first).sha == first  # pinned by commit id
    assert "notes.txt" in reader.list_repo_files(repo_id)
    refused = requests.post(f"{mirror.endpoint}/api/models/{repo_id}/commit/main",
                            headers={"Authorization": f"Bearer {mirror.token}"},
                            data='{"key": "header", "value": {"summary": "x"}}\n')
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
