"""Anonymous clients cannot make the hub hold more memory than its cache budget (server/cache.py).

The attack that found it: HEAD requests for one 20,000-file repo through 64 spellings of its
case-insensitive id grew the server by 8.7 MiB each, because the commit cache was keyed by the id as
spelled and bounded by its number of entries. Here 64 spellings and 1,000 distinct anonymous requests
(files, model info at every commit, tree pages, history, paths-info, misses) run against a
20,000-file repo with ten such trees in its history, and the server's RSS must stay within
`--cache-size` plus the working memory of the requests in flight (docs/security.md).
"""

from __future__ import annotations

import base64
import json
import random
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from huggingface_hub import HfApi

from berthub.server.objects import Commit, FileEntry, make_commit
from berthub.server.storage import Storage

FILES = 20_000
WORKING_MIB = 96  # what requests in flight may hold besides the cache (documented in docs/security.md)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _raw_commit(hub, repo_id: str, lines: list[dict]) -> str:
    response = requests.post(f"{hub.endpoint}/api/models/{repo_id}/commit/main",
                             headers={"Authorization": f"Bearer {hub.token}"},
                             data="\n".join(json.dumps(line) for line in lines))
    response.raise_for_status()
    return response.json()["commitOid"]


def _big_repo(hub) -> tuple[str, list[str], list[str]]:
    """(repo id, its 20,000 paths, the ids of ten commits of 20,000 files each), built with raw commits
    of one shared content so the server stores a single blob."""
    repo_id = hub.unique_repo_id("Big-Tree", namespace="Mem")
    HfApi(endpoint=hub.endpoint, token=hub.token).create_repo(repo_id)
    paths = [f"shard-{index // 1000:02d}/part-{index:05d}.txt" for index in range(FILES)]
    content = base64.b64encode(b"x").decode()
    commits = [_raw_commit(hub, repo_id, [{"key": "header", "value": {"summary": "20,000 files"}}] + [
        {"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}} for path in paths])]
    for step in range(9):  # history: ten big trees, more than the 32 MiB cache holds
        commits.append(_raw_commit(hub, repo_id, [{"key": "header", "value": {"summary": f"step {step}"}},
                                                  {"key": "file", "value": {"path": f"step-{step}.txt",
                                                                            "content": content}}]))
    return repo_id, paths, commits


def _spellings(repo_id: str, count: int, rng: random.Random) -> list[str]:
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(char.upper() if rng.random() < 0.5 else char.lower() for char in repo_id))
    return sorted(found)


def _anonymous_requests(repo_id: str, paths: list[str], commits: list[str], rng: random.Random) -> list[tuple]:
    """1,000 distinct (method, url path, body) an anonymous client may send: 100 at each commit of the
    history (each tree is read once, then from the cache while it fits), in 200 spellings of the id."""
    names = _spellings(repo_id, 200, rng)
    kinds = [  # (weight, request): mostly the metadata HEADs every load sends
        (70, lambda name, commit, path: ("HEAD", f"/{name}/resolve/{commit}/{path}", None)),
        (4, lambda name, commit, path: ("GET", f"/api/models/{name}/revision/{commit}", None)),
        (4, lambda name, commit, path: ("GET", f"/api/models/{name}/tree/{commit}?recursive=true"
                                               f"&cursor={rng.randrange(20) * 1000}", None)),
        (4, lambda name, commit, path: ("GET", f"/api/models/{name}/tree/{commit}/{path.split('/')[0]}", None)),
        (4, lambda name, commit, path: ("GET", f"/api/models/{name}/commits/{commit}", None)),
        (4, lambda name, commit, path: ("POST", f"/api/models/{name}/paths-info/{commit}",
                                        f"paths={path}&paths={path.split('/')[0]}")),
        (5, lambda name, commit, path: ("HEAD", f"/{name}/resolve/{commit}/missing-{rng.randrange(10**9)}", None)),
        (5, lambda name, commit, path: ("GET", f"/api/models/{name}/revision/no-such-{rng.randrange(10**9)}", None)),
    ]
    wanted: list[tuple] = []
    for commit in commits:
        batch: set[tuple] = set()
        while len(batch) < 1000 // len(commits):
            make = rng.choices([kind for _, kind in kinds], weights=[weight for weight, _ in kinds])[0]
            batch.add(make(rng.choice(names), commit, rng.choice(paths)))
        wanted += sorted(batch)
    assert len(set(wanted)) == 1000
    return wanted


@pytest.fixture(scope="module")
def big_repo(attack_hub) -> tuple[str, list[str], list[str]]:
    return _big_repo(attack_hub)


def test_64_spellings_and_1000_anonymous_requests_keep_rss_within_the_cache_budget(attack_hub, big_repo):
    repo_id, paths, commits = big_repo
    pid, endpoint, rng = attack_hub.process.pid, attack_hub.endpoint, random.Random(30)
    cache_mib = int(attack_hub.extra_args[attack_hub.extra_args.index("--cache-size") + 1].removesuffix("MiB"))
    session = requests.Session()
    assert session.head(f"{endpoint}/{repo_id}/resolve/main/{paths[0]}").status_code == 200
    start = _rss_mib(pid)
    for index, name in enumerate(_spellings(repo_id, 64, rng)):
        response = session.head(f"{endpoint}/{name}/resolve/main/{paths[index]}")
        assert response.status_code == 200 and response.headers["X-Repo-Commit"] == commits[-1]
    after_spellings = _rss_mib(pid)

    def send(request: tuple) -> int:
        method, path, data = request
        return requests.request(method, endpoint + path, data=data).status_code

    peak = after_spellings
    requests_ = _anonymous_requests(repo_id, paths, commits, rng)
    with ThreadPoolExecutor(4) as pool:
        for batch in range(0, len(requests_), 100):
            statuses = list(pool.map(send, requests_[batch:batch + 100]))
            assert set(statuses) <= {200, 404}, statuses
            peak = max(peak, _rss_mib(pid))
    print(f"\nserver RSS: {start:.0f} MiB before, {after_spellings:.0f} after 64 spellings, peak {peak:.0f} "
          f"after 1,000 requests (bound: +{cache_mib} MiB cache + {WORKING_MIB} MiB working memory)")
    assert peak - start < cache_mib + WORKING_MIB, attack_hub.log()[-2000:]


def test_tree_listings_come_in_pages_that_huggingface_hub_follows(attack_hub, big_repo):
    repo_id, paths, commits = big_repo
    api = HfApi(endpoint=attack_hub.endpoint)
    assert sorted(api.list_repo_files(repo_id.upper(), revision=commits[0])) == sorted(paths)
    first = requests.get(f"{attack_hub.endpoint}/api/models/{repo_id}/tree/main?recursive=true")
    assert len(first.json()) == 1000
    assert first.links["next"]["url"].startswith(f"{attack_hub.endpoint}/api/models/{repo_id}/tree/{commits[-1]}?")


def test_spellings_of_one_repo_id_share_one_cache_entry(tmp_path):
    storage = Storage(tmp_path / "hub")
    storage.create_repo("Acme/Pub")
    for name in ("Acme/Pub", "acme/pub", "ACME/PUB", "aCmE/pUb"):
        assert storage.resolve(name, "main").title == "initial commit"
        assert storage.repo(name).repo_id == "Acme/Pub"
    assert [key[0] for key in storage.cache._entries] == ["commit"]  # one commit, keyed by the repo's uid


def test_the_cache_holds_at_most_its_bytes_and_keeps_what_was_used_last():
    from berthub.server.cache import BoundedCache

    cache = BoundedCache(max_bytes=1000)
    for key in range(10):
        cache.put(key, str(key), size=200)
        assert cache.bytes <= 1000
    assert cache.get(9) == "9" and cache.get(0) is None and len(cache) == 5
    cache.get(5)
    cache.put("new", "x", size=200)
    assert 5 in cache and 6 not in cache
    cache.put("huge", "y" * 300, size=300)  # over a quarter of the budget: computed, not kept
    assert "huge" not in cache and cache.bytes <= 1000


def test_a_commit_weighs_what_it_occupies_in_memory():
    from berthub.server.cache import approximate_size

    files = {f"dir-{index % 7}/näme-{index}.safetensors": FileEntry.large(f"dir-{index % 7}/näme-{index}.safetensors",
                                                                         f"{index:064x}", index * 1000)
             for index in range(5000)}
    text = json.dumps(make_commit(None, "t" * 500, "m" * 5000, "me", files).to_json())
    tracemalloc.start()
    commit = Commit.from_json(json.loads(text))
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert 0.8 < commit.memory_size() / held < 1.5, (commit.memory_size(), held)
    card = {"tags": ["a"] * 100, "nested": {"k": [1.5, None, "x" * 1000]}}
    assert approximate_size(card) >= sys.getsizeof("x" * 1000) + sys.getsizeof(card)
