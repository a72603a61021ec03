"""Archive bombs: 1 GiB of zeros packs into ~1 MB; berthub refuses to unpack it, leaving nothing behind,
and a 1 GiB junk member beside a model's files is never written. Plain-URL downloads in the cache are
checked for their recorded size on every use.

The bombs are real (a tar.gz and a zip of 1 GiB of zeros, made here in a few seconds); the limits
are the defaults, or set through BERTHUB_MAX_EXTRACT_SIZE / BERTHUB_MAX_EXTRACT_RATIO.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
import zipfile
from pathlib import Path

import pytest
import safetensors.torch
import torch
from faultserver import FaultServer, Route, running

from berthub import BertConfig, BertModel
from berthub.errors import ConfigError, CorruptDownloadError
from berthub.sources import archives
from berthub.sources.urls import Retry, fetch_url, url_folder

GIB = 1024**3
FAST = Retry(backoff_s=0.01)


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read without ever holding them in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 (io's signature)
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def _tar_gz_bomb(size: int = GIB) -> bytes:
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz", compresslevel=1) as tar:
        tar.addfile(tarfile.TarInfo("vocab.txt"), io.BytesIO(b"[PAD]\n"))
        info = tarfile.TarInfo("pytorch_model.bin")
        info.size = size
        tar.addfile(info, _Zeros(size))
    return packed.getvalue()


def _zip_bomb(size: int = GIB, name: str = "pytorch_model.bin", beside: dict[str, bytes] | None = None) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zipped:
        for other, data in (beside or {}).items():
            zipped.writestr(other, data)
        with zipped.open(name, "w", force_zip64=True) as member:
            chunk = bytes(16 * 1024**2)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return packed.getvalue()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"bomb.tar.gz": _tar_gz_bomb(), "bomb.zip": _zip_bomb()}


@pytest.fixture
def server():
    with running(FaultServer()) as started:
        yield started


@pytest.mark.parametrize("name", ["bomb.tar.gz", "bomb.zip"])
def test_a_gib_of_zeros_is_refused_and_nothing_stays_in_the_cache(server, tmp_path, bombs, name):
    assert len(bombs[name]) < 8 * 1024**2  # ~1 MB carrying 1 GiB
    server.routes["/" + name] = Route(body=bombs[name])
    url = server.url + "/" + name
    with pytest.raises(CorruptDownloadError, match=r"archive bomb.*nothing was extracted") as refused:
        fetch_url(url, cache_dir=tmp_path, retry=FAST)
    assert "BERTHUB_MAX_EXTRACT_RATIO" in str(refused.value) and "\n" not in str(refused.value)
    assert not url_folder(url, tmp_path).exists()
    assert sum(path.stat().st_size for path in tmp_path.rglob("*") if path.is_file()) == 0


@pytest.mark.parametrize("name", ["bomb.tar.gz", "bomb.zip"])
def test_extract_archive_refuses_before_creating_the_destination(tmp_path, bombs, name):
    archive = tmp_path / name
    archive.write_bytes(bombs[name])
    with pytest.raises(CorruptDownloadError, match="archive bomb"):
        archives.extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_size_limit_is_configurable_and_ordinary_archives_still_extract(tmp_path, monkeypatch):
    data = bytes(range(256)) * 40  # 10 kB that does not compress much
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        info = tarfile.TarInfo("vocab.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(packed.getvalue())
    archives.extract_archive(archive, tmp_path / "ok")
    assert (tmp_path / "ok" / "vocab.txt").read_bytes() == data
    monkeypatch.setenv("BERTHUB_MAX_EXTRACT_SIZE", "5000")
    with pytest.raises(CorruptDownloadError, match="over the limit of 5000 .BERTHUB_MAX_EXTRACT_SIZE"):
        archives.extract_archive(archive, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_the_ratio_limit_can_be_raised_for_a_trusted_archive(tmp_path, monkeypatch):
    archive = tmp_path / "zeros.tar.gz"
    archive.write_bytes(_tar_gz_bomb(8 * 1024**2))
    monkeypatch.setenv("BERTHUB_MAX_EXTRACT_RATIO", "100000")
    archives.extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "pytorch_model.bin").stat().st_size == 8 * 1024**2


def test_a_malformed_limit_setting_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTHUB_MAX_EXTRACT_RATIO", "lots")
    archive = tmp_path / "zeros.tar.gz"
    archive.write_bytes(_tar_gz_bomb(1024))
    with pytest.raises(ConfigError, match="BERTHUB_MAX_EXTRACT_RATIO=.lots. is not a number"):
        archives.extract_archive(archive, tmp_path / "out")


def test_a_cached_url_download_of_the_wrong_size_is_downloaded_again(server, tmp_path):
    body = bytes(range(256)) * 100
    server.routes["/vocab.txt"] = Route(body=body)
    url = server.url + "/vocab.txt"
    path = fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False)
    path.write_bytes(body[:-10])  # damaged in the cache after a complete download
    assert fetch_url(url, cache_dir=tmp_path, retry=FAST, extract=False).read_bytes() == body
    assert len(server.requests_to("/vocab.txt")) == 2


def test_extract_once_refuses_a_local_bomb_without_touching_the_users_folder(tmp_path, bombs):
    archive = tmp_path / "mine" / "model.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(bombs["bomb.tar.gz"])
    (archive.parent / "notes.txt").write_text("mine")
    with pytest.raises(CorruptDownloadError, match="archive bomb"):
        archives.extract_once(str(archive), archive, tmp_path / "extracted")
    assert sorted(p.name for p in archive.parent.iterdir()) == ["model.tar.gz", "notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, bytes]:
    """A tiny real model folder's files: config.json, model.safetensors, vocab.txt."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    BertModel(BertConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(folder)
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def _extracted_bytes(cache: Path) -> int:
    return sum(path.stat().st_size for path in cache.rglob("extracted/**/*") if path.is_file())


def test_a_gib_junk_member_beside_a_zipped_model_is_skipped_unread_and_the_model_loads(
        model_files, tmp_path, monkeypatch, caplog):
    archive = tmp_path / "model.zip"
    archive.write_bytes(_zip_bomb(name="junk.bin", beside=model_files))
    monkeypatch.setenv("BERTHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BERTHUB_MAX_EXTRACT_RATIO", "1000")  # limits that let it through: only skipping it helps
    with caplog.at_level(logging.WARNING, logger="berthub"):
        model = BertModel.from_pretrained(archive)
    expected = safetensors.torch.load(model_files["model.safetensors"])
    assert all(torch.equal(model.state_dict()[key], value) for key, value in expected.items())
    assert "skipped what a model does not need: junk.bin (1,073,741,824 bytes)" in caplog.text
    assert _extracted_bytes(tmp_path / "cache") == sum(len(data) for data in model_files.values())


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


def _tar_gz_with_junk(files: dict[str, bytes], junk_size: int) -> bytes:
    """A tar.gz of `files`, then a member `junk.bin` whose header announces `junk_size` bytes (a size lie:
    no data follows, so the archive stays tiny; reading it would fail, refusing it at its header does not)."""
    parts = [_tar_header(name, len(data)) + data + bytes(-len(data) % 512) for name, data in files.items()]
    return gzip.compress(b"".join(parts) + _tar_header("junk.bin", junk_size), compresslevel=1)


def test_a_gib_junk_member_in_a_tar_is_refused_at_its_header_and_nothing_stays_in_the_cache(
        model_files, server, tmp_path):
    server.routes["/model.tar.gz"] = Route(body=_tar_gz_with_junk(model_files, GIB))
    url = server.url + "/model.tar.gz"
    with pytest.raises(CorruptDownloadError, match=r"would unpack to 10\d{8} bytes from \d+ .*archive bomb"):
        fetch_url(url, cache_dir=tmp_path, retry=FAST)
    assert not url_folder(url, tmp_path).exists() and _extracted_bytes(tmp_path) == 0


def test_only_the_files_a_model_needs_are_extracted_and_the_rest_is_named(tmp_path, caplog):
    release = {"uncased_L-2/bert_config.json": b"{}", "uncased_L-2/vocab.txt": b"[PAD]\n",
               "uncased_L-2/bert_model.ckpt.index": b"index", "uncased_L-2/bert_model.ckpt.data-00000-of-00001": b"w",
               "uncased_L-2/bert_model.ckpt.meta": bytes(5000), "uncased_L-2/README.md": b"# notes",
               "__MACOSX/uncased_L-2/._vocab.txt": b"resource fork"}
    archive = tmp_path / "uncased_L-2.tar.gz"
    archive.write_bytes(_tar_gz_with_junk(release, 0))
    with caplog.at_level(logging.WARNING, logger="berthub"):
        root = archives.extract_once(str(archive), archive, tmp_path / "extracted")
    assert root == tmp_path / "extracted" / "uncased_L-2"
    assert sorted(p.name for p in root.iterdir()) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index", "config.json", "vocab.txt"]
    for skipped in ("bert_model.ckpt.meta (5,000 bytes)", "README.md (7 bytes)", "._vocab.txt (13 bytes)",
                    "junk.bin (0 bytes)"):
        assert skipped in caplog.text
