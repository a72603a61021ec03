"""Archive bombs: 1 GiB of zeros packs into ~1 MB; berthub refuses to unpack it, leaving nothing behind.
And plain-URL downloads in the cache are checked for their recorded size on every use.

The bombs are real (a tar.gz and a zip of 1 GiB of zeros, made here in a few seconds); the limits
are the defaults, or set through BERTHUB_MAX_EXTRACT_SIZE / BERTHUB_MAX_EXTRACT_RATIO.
"""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest
from faultserver import FaultServer, Route, running

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


def _zip_bomb(size: int = GIB) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zipped:
        with zipped.open("pytorch_model.bin", "w", force_zip64=True) as member:
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
