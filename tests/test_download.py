"""Plain-URL downloads (berthub.sources.urls) against a misbehaving HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from faultserver import FaultServer, Route, running

from berthub.errors import AuthError, CorruptDownloadError, NetworkError, NotFoundError
from berthub.sources import urls as download
from berthub.sources.urls import Retry, fetch_url, url_folder

ROOT = Path(__file__).resolve().parents[1]
VOCAB = (ROOT / "data/vocabs/bert-base-multilingual-cased/vocab.txt").read_bytes()  # ~1 MB of real data
FAST = Retry(backoff_s=0.01)


@pytest.fixture
def server():
    with running(FaultServer()) as started:
        yield started


def _serve(server: FaultServer, path: str, **route) -> str:
    server.routes[path] = Route(**route)
    return server.url + path


def test_download_lands_in_a_human_readable_cache_folder_with_its_source(server, tmp_path):
    url = _serve(server, "/bert/vocab.txt", body=VOCAB)
    path = fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    assert path.read_bytes() == VOCAB
    assert path.parent.parent == tmp_path / "berthub-urls"
    assert path.parent.name.startswith("vocab.txt--") and path.name == "vocab.txt"
    source = json.loads((path.parent / "source.json").read_text())
    assert source["url"] == url and source["sha256"] == hashlib.sha256(VOCAB).hexdigest()


def test_cached_url_is_returned_without_any_request(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB)
    first = fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    second = fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    assert first == second
    assert len(server.log) == 1


def test_connection_dropped_mid_file_resumes_with_range_to_an_identical_file(server, tmp_path, minilm_dir):
    weights = (minilm_dir / "model.safetensors").read_bytes()[:5_000_000]  # several 1 MiB reads
    url = _serve(server, "/model.safetensors", body=weights, drop_after=3_500_000)
    path = fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    assert path.read_bytes() == weights
    first, resumed = server.log
    assert first.range is None
    assert 0 < int(resumed.range.removeprefix("bytes=").rstrip("-")) <= 3_500_000


def test_partial_file_left_by_a_killed_process_is_resumed_not_restarted(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB)
    folder = url_folder(url, tmp_path)
    folder.mkdir(parents=True)
    (folder / "vocab.txt.partial").write_bytes(VOCAB[:123_456])
    path = fetch_url(url, cache_dir=tmp_path, sha256=hashlib.sha256(VOCAB).hexdigest(), retry=FAST, extract=False)
    assert path.read_bytes() == VOCAB
    assert [entry.range for entry in server.log] == ["bytes=123456-"]


def test_server_ignoring_range_makes_the_download_start_over(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB, honour_range=False)
    folder = url_folder(url, tmp_path)
    folder.mkdir(parents=True)
    (folder / "vocab.txt.partial").write_bytes(b"stale bytes from another version")
    assert fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False).read_bytes() == VOCAB


def test_500_then_success_retries_with_growing_backoff(server, tmp_path, monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    url = _serve(server, "/vocab.txt", body=VOCAB, failures=2)
    path = fetch_url(url, cache_dir=tmp_path, retry=Retry(backoff_s=0.25), extract=False)
    assert path.read_bytes() == VOCAB
    assert len(server.requests_to("/vocab.txt")) == 3
    assert sleeps == [0.25, 0.5]


def test_persistent_500_gives_up_after_the_bounded_attempts_with_network_error(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB, failures=1000)
    with pytest.raises(NetworkError, match="after 3 attempts"):
        fetch_url(url, cache_dir=tmp_path, retry=Retry(attempts=3, backoff_s=0.01), extract=False)
    assert len(server.requests_to("/vocab.txt")) == 3
    assert not (url_folder(url, tmp_path) / "vocab.txt").exists()


def test_wrong_sha256_is_a_clear_error_and_leaves_nothing_in_the_cache(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB)
    with pytest.raises(CorruptDownloadError, match="sha256 is .* but 0+ was expected.*removed"):
        fetch_url(url, cache_dir=tmp_path, sha256="0" * 64, retry=FAST, extract=False)
    assert [p.name for p in url_folder(url, tmp_path).iterdir()] == []


def test_cached_file_with_another_sha256_than_asked_is_downloaded_again_and_checked(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB)
    fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    with pytest.raises(CorruptDownloadError):
        fetch_url(url, cache_dir=tmp_path, sha256="1" * 64, retry=FAST, extract=False)
    assert len(server.requests_to("/vocab.txt")) == 2


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (401, AuthError), (403, AuthError)])
def test_http_errors_map_to_berthub_errors_without_retrying(server, tmp_path, status, error):
    url = _serve(server, "/vocab.txt", body=b"", status=status)
    with pytest.raises(error, match=f"HTTP {status}"):
        fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    assert len(server.log) == 1


def test_unreachable_host_is_a_network_error_naming_the_url(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vocab.txt"
    with pytest.raises(NetworkError, match=f"Could not download '{url}' after 2 attempts"):
        fetch_url(url, cache_dir=tmp_path, retry=Retry(attempts=2, backoff_s=0.01), extract=False)


def test_offline_uncached_url_is_not_found_without_any_request(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB)
    with pytest.raises(NotFoundError, match="not in the cache"):
        fetch_url(url, cache_dir=tmp_path, local_files_only=True, extract=False)
    assert server.log == []


def _tar_gz(members: dict[str, bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_tar_gz_archive_is_extracted_inside_the_cache_once(server, tmp_path):
    config = b'{"vocab_size": 119547, "hidden_size": 32}'
    url = _serve(
        server, "/bert-base-multilingual-cased.tar.gz", body=_tar_gz({"bert_config.json": config, "vocab.txt": VOCAB})
    )
    folder = fetch_url(url, cache_dir=tmp_path, retry=FAST)
    assert folder == url_folder(url, tmp_path) / "extracted"
    assert (folder / "vocab.txt").read_bytes() == VOCAB and (folder / "bert_config.json").read_bytes() == config
    assert fetch_url(url, cache_dir=tmp_path, retry=FAST) == folder
    assert len(server.log) == 1


def test_archive_with_one_top_level_folder_resolves_to_that_folder(server, tmp_path):
    url = _serve(server, "/uncased_L-2.tar.gz", body=_tar_gz({"vocab.txt": VOCAB}, prefix="uncased_L-2/"))
    folder = fetch_url(url, cache_dir=tmp_path, retry=FAST)
    assert folder.name == "uncased_L-2" and (folder / "vocab.txt").read_bytes() == VOCAB


def _evil_tar(kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        ok = tarfile.TarInfo("vocab.txt")
        ok.size = len(VOCAB)
        tar.addfile(ok, io.BytesIO(VOCAB))
        evil = tarfile.TarInfo({"parent": "../escaped.txt", "absolute": "/tmp/escaped.txt"}.get(kind, "link"))
        if kind in ("parent", "absolute"):
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))
        else:
            evil.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE, "device": tarfile.CHRTYPE}[kind]
            evil.linkname = "/etc/passwd"
            tar.addfile(evil)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("parent", "'../escaped.txt' has an absolute path or '..'"),
        ("absolute", "'/tmp/escaped.txt' has an absolute path or '..'"),
        ("symlink", "'link' is a symlink"),
        ("hardlink", "'link' is a hard link"),
        ("device", "'link' is a device"),
    ],
)
def test_unsafe_tar_member_is_refused_and_the_archive_removed(server, tmp_path, kind, message):
    url = _serve(server, "/evil.tar.gz", body=_evil_tar(kind))
    with pytest.raises(CorruptDownloadError, match=message):
        fetch_url(url, cache_dir=tmp_path / "cache", retry=FAST)
    assert not url_folder(url, tmp_path / "cache").exists()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "cache" / "escaped.txt").exists()


def test_truncated_archive_is_a_corrupt_download_and_removed(server, tmp_path):
    whole = _tar_gz({"vocab.txt": VOCAB})
    url = _serve(server, "/truncated.tar.gz", body=whole[: len(whole) // 2])
    with pytest.raises(CorruptDownloadError, match="damaged"):
        fetch_url(url, cache_dir=tmp_path, retry=FAST)
    assert not url_folder(url, tmp_path).exists()


def test_zip_with_parent_member_is_refused(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("model/vocab.txt", VOCAB)
        zipped.writestr("../../escaped.txt", b"evil")
    url = _serve(server, "/evil.zip", body=buffer.getvalue())
    with pytest.raises(CorruptDownloadError, match="'../../escaped.txt'"):
        fetch_url(url, cache_dir=tmp_path, retry=FAST)


_DOWNLOAD_IN_A_PROCESS = """
import sys
from pathlib import Path
from berthub.sources.urls import fetch_url
path = fetch_url(sys.argv[1], cache_dir=Path(sys.argv[2]), sha256=sys.argv[3], progress=False, extract=False)
print(path)
"""


@pytest.mark.slow
def test_four_processes_downloading_the_same_url_download_it_once(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB, seconds_per_chunk=0.1)  # ~1.6 s: the processes overlap
    sha = hashlib.sha256(VOCAB).hexdigest()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _DOWNLOAD_IN_A_PROCESS, url, str(tmp_path), sha],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0]
    assert len(set(outputs)) == 1 and Path(outputs[0]).read_bytes() == VOCAB
    assert len(server.requests_to("/vocab.txt")) == 1


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the size stays what source.json recorded
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_cached_download_is_downloaded_again_online_and_refused_offline(server, tmp_path):
    url = _serve(server, "/vocab.txt", body=VOCAB)
    path = fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    _flip_last_byte(path)
    assert fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False).read_bytes() == VOCAB
    assert len(server.requests_to("/vocab.txt")) == 2
    _flip_last_byte(path)
    with pytest.raises(CorruptDownloadError, match="hashes to .* downloaded .damaged.") as refused:
        fetch_url(url, cache_dir=tmp_path, local_files_only=True, extract=False)
    assert str(path) in str(refused.value) and "while online" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_damaged_extracted_file_is_extracted_again_from_the_cached_archive_even_offline(server, tmp_path, caplog):
    config = b'{"vocab_size": 119547, "hidden_size": 32}'
    url = _serve(server, "/model.tar.gz", body=_tar_gz({"bert_config.json": config, "vocab.txt": VOCAB}))
    folder = fetch_url(url, cache_dir=tmp_path, retry=FAST)
    assert (folder / "config.json").read_bytes() == config  # pytorch-pretrained-BERT's name, given the usual one
    _flip_last_byte(folder / "vocab.txt")
    again = fetch_url(url, cache_dir=tmp_path, local_files_only=True)
    assert (again / "vocab.txt").read_bytes() == VOCAB
    assert "vocab.txt, extracted from" in caplog.text and "extracting the archive again" in caplog.text
    assert len(server.log) == 1
