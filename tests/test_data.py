"""coursekit.data: IDX reading, folder/env/cache/download sources, checksums, atomic writes."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import socketserver
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from coursekit import data
from coursekit.data import DataNotFoundError, IDXError, SampleDataWarning

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FASHION = SHARED / "fashion-mnist-sample"
MNIST = SHARED / "mnist-sample"
needs_samples = pytest.mark.skipif(not FASHION.is_dir(), reason="../shared/data samples missing")


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def _write_set(folder: Path, n_train: int = 12, n_test: int = 6, *, n_train_labels=None) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train_labels or n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }
    for name, arr in arrays.items():
        with gzip.open(folder / name, "wb") as fh:
            fh.write(_idx_bytes(arr))
    return folder


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test here sees the CI data folders or the user's cache unless it asks."""
    monkeypatch.delenv("COURSEKIT_MNIST_DIR", raising=False)
    monkeypatch.delenv("COURSEKIT_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("COURSEKIT_CACHE_DIR", str(tmp_path / "cache"))
    data._announced.clear()
    data._read_cache.clear()


# ----------------------------------------------------------------- IDX files
@needs_samples
@pytest.mark.parametrize("folder,n_train,n_test", [(FASHION, 720, 180), (MNIST, 8000, 2000)])
def test_idx_round_trip_on_real_samples(folder, n_train, n_test):
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(folder)
    assert x_train.shape == (n_train, 28, 28) and x_test.shape == (n_test, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert len(y_train) == n_train and len(y_test) == n_test
    assert set(np.unique(y_train)) == set(range(10))
    # Re-encoding the parsed arrays gives back the decompressed file byte for byte.
    raw = gzip.decompress((folder / "train-images-idx3-ubyte.gz").read_bytes())
    assert _idx_bytes(x_train) == raw
    assert x_train.max() > 200 and x_train.min() == 0  # real images, not zeros


def test_read_idx_reads_raw_and_gzip_identically(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(_idx_bytes(arr))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.idx"), arr)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.idx.gz"), arr)


def test_read_idx_handles_big_endian_types(tmp_path):
    values = np.array([1.5, -2.25, 3.0], dtype=">f4")
    raw = bytes([0, 0, 0x0D, 1]) + (3).to_bytes(4, "big") + values.tobytes()
    (tmp_path / "f.idx").write_bytes(raw)
    out = data.read_idx(tmp_path / "f.idx")
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [1.5, -2.25, 3.0])


def test_truncated_idx_file_names_the_file_and_says_truncated(tmp_path):
    raw = _idx_bytes(np.zeros((5, 28, 28)))
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(raw[:-100])
    with pytest.raises(IDXError, match=r"train-images-idx3-ubyte.*truncated"):
        data.read_idx(bad)


def test_truncated_gzip_stream_is_reported_as_truncated(tmp_path):
    blob = gzip.compress(_idx_bytes(np.ones((50, 28, 28))))
    bad = tmp_path / "x.gz"
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(IDXError, match=r"x\.gz.*truncated"):
        data.read_idx(bad)


def test_wrong_magic_number_is_reported(tmp_path):
    bad = tmp_path / "labels.idx"
    bad.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"\x00\x01\x02")
    with pytest.raises(IDXError, match=r"labels\.idx.*wrong magic number 0x12340801"):
        data.read_idx(bad)


def test_trailing_bytes_are_reported(tmp_path):
    bad = tmp_path / "t.idx"
    bad.write_bytes(_idx_bytes(np.zeros(4)) + b"junk")
    with pytest.raises(IDXError, match="4 unexpected bytes"):
        data.read_idx(bad)


def test_label_count_differing_from_image_count_is_reported(tmp_path):
    folder = _write_set(tmp_path / "set", n_train=12, n_train_labels=11)
    with pytest.raises(IDXError, match=r"label count differs.*12 images.*11 labels"):
        data.load_mnist(folder)


def test_missing_file_in_folder_names_it(tmp_path):
    folder = _write_set(tmp_path / "set")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_mnist(folder)


@needs_samples
def _corrupt_in_place(target: Path) -> None:
    """Flip one byte of ``target`` (same size, same inode)."""
    target.chmod(0o644)
    blob = bytearray(target.read_bytes())
    blob[-10] ^= 0xFF
    target.write_bytes(bytes(blob))


def test_corrupt_sample_file_fails_its_sha256(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(FASHION, folder)
    _corrupt_in_place(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(data.ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist(folder)


@needs_samples
def test_a_folder_read_again_is_copied_not_reread_until_a_file_changes(tmp_path, monkeypatch):
    folder = tmp_path / "copy"
    shutil.copytree(FASHION, folder)
    reads = []
    real = data.read_idx
    monkeypatch.setattr(data, "read_idx", lambda path: reads.append(path) or real(path))
    (x1, _), _ = data.load_fashion_mnist(folder)
    (x2, _), _ = data.load_fashion_mnist(folder)
    assert len(reads) == 4, "the second load read the files again"
    np.testing.assert_array_equal(x1, x2)
    x1[0, 0, 0] ^= 0xFF  # each caller's arrays are its own
    (x3, _), _ = data.load_fashion_mnist(folder)
    assert x3[0, 0, 0] == x2[0, 0, 0] and x3.flags.writeable and x3 is not x2
    _corrupt_in_place(folder / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(data.ChecksumError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_fashion_mnist(folder)


# ------------------------------------------------------------- sources
@needs_samples
def test_env_variable_folder_is_used_and_sample_announced_once(monkeypatch):
    monkeypatch.setenv("COURSEKIT_FASHION_MNIST_DIR", str(FASHION))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = data.load_fashion_mnist()
        second = data.load_fashion_mnist()
    notices = [w for w in caught if issubclass(w.category, SampleDataWarning)]
    assert len(notices) == 1
    assert "720 train / 180 test" in str(notices[0].message)
    assert first.is_sample and second.is_sample
    assert first.class_names[0] == "T-shirt/top" and first.class_names[9] == "Ankle boot"
    assert "COURSEKIT_FASHION_MNIST_DIR" in first.source


def test_explicit_path_wins_over_env(monkeypatch, tmp_path):
    env_folder = _write_set(tmp_path / "env", n_train=8)
    arg_folder = _write_set(tmp_path / "arg", n_train=4)
    monkeypatch.setenv("COURSEKIT_MNIST_DIR", str(env_folder))
    (x_train, _), _ = data.load_mnist(arg_folder)
    assert len(x_train) == 4


def test_offline_error_names_the_variable_to_set():
    def offline(url, timeout):
        raise OSError("network is unreachable")

    with pytest.raises(DataNotFoundError) as info:
        data.load_fashion_mnist(retries=0, opener=offline)
    message = str(info.value)
    assert "COURSEKIT_FASHION_MNIST_DIR" in message
    assert "network is unreachable" in message
    assert "fashion-mnist-sample" in message


def test_env_variable_pointing_nowhere_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_MNIST_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataNotFoundError, match="COURSEKIT_MNIST_DIR=.*is not a folder"):
        data.load_mnist()


def test_download_switched_off_says_so():
    with pytest.raises(DataNotFoundError, match="download=False"):
        data.load_mnist(download=False)


# ----------------------------------------------------- simulated downloads
class _Server:
    """A tiny HTTP server on 127.0.0.1 serving files from a folder."""

    def __init__(self, folder: Path, truncate: bool = False):
        folder_str = str(folder)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=folder_str, **k)

            def log_message(self, *args):
                pass

            def copyfile(self, source, outputfile):
                if truncate:  # promise the full length, send half, hang up
                    outputfile.write(source.read()[: 100])
                    outputfile.flush()
                    self.close_connection = True
                    return
                super().copyfile(source, outputfile)

        self.httpd = socketserver.TCPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _md5s(folder: Path) -> dict[str, str]:
    return {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in data.FILES.values()}


def test_download_with_wrong_checksum_is_rejected_and_leaves_nothing(tmp_path):
    served = _write_set(tmp_path / "served")
    cache = tmp_path / "cache"
    with _Server(served) as server:
        with pytest.raises(DataNotFoundError, match="MD5 .* differs from the official"):
            data.load_mnist(cache_dir=cache, mirrors=[server.url], retries=0)
    left = [p for p in (cache / "mnist").rglob("*") if p.is_file()] if cache.exists() else []
    assert left == []


def test_download_with_matching_checksum_is_cached_and_reused(tmp_path, monkeypatch):
    served = _write_set(tmp_path / "served", n_train=12, n_test=6)
    monkeypatch.setitem(data.DATASETS["mnist"], "md5", _md5s(served))
    cache = tmp_path / "cache"
    with _Server(served) as server:
        (x_train, _), (x_test, _) = data.load_mnist(cache_dir=cache, mirrors=[server.url])
    assert x_train.shape == (12, 28, 28) and x_test.shape == (6, 28, 28)
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(data.FILES.values())
    # Server gone: the verified cache serves the next call.
    (x_again, _), _ = data.load_mnist(cache_dir=cache, download=False)
    np.testing.assert_array_equal(x_again, x_train)


def test_first_mirror_failing_falls_back_to_the_next(tmp_path, monkeypatch):
    served = _write_set(tmp_path / "served")
    monkeypatch.setitem(data.DATASETS["mnist"], "md5", _md5s(served))
    with _Server(served) as server:
        loaded = data.load_mnist(
            cache_dir=tmp_path / "cache", mirrors=["http://127.0.0.1:9/", server.url], retries=0
        )
    assert len(loaded[0][0]) == 12


def test_interrupted_download_leaves_no_file_a_later_call_trusts(tmp_path, monkeypatch):
    served = _write_set(tmp_path / "served")
    monkeypatch.setitem(data.DATASETS["mnist"], "md5", _md5s(served))
    cache = tmp_path / "cache"
    with _Server(served, truncate=True) as server:
        with pytest.raises(DataNotFoundError):
            data.load_mnist(cache_dir=cache, mirrors=[server.url], retries=0)
    assert not any((cache / "mnist").glob("*.gz")), "a partial file was kept"
    assert not any((cache / "mnist").glob("*.part")), "the temporary file was kept"
    with pytest.raises(DataNotFoundError):
        data.load_mnist(cache_dir=cache, download=False)


def test_corrupt_cached_file_is_dropped_not_trusted(tmp_path, monkeypatch):
    served = _write_set(tmp_path / "served")
    monkeypatch.setitem(data.DATASETS["mnist"], "md5", _md5s(served))
    cache = tmp_path / "cache"
    with _Server(served) as server:
        data.load_mnist(cache_dir=cache, mirrors=[server.url])
    victim = cache / "mnist" / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(b"\x1f\x8b not really")
    with pytest.raises(DataNotFoundError):
        data.load_mnist(cache_dir=cache, download=False)
    assert not victim.exists()


def test_download_file_writes_atomically_with_a_patched_opener(tmp_path):
    payload = b"hello idx" * 1000

    class Response:
        headers = {"Content-Length": str(len(payload))}

        def __init__(self):
            self._sent = False

        def read(self, n):
            if self._sent:
                raise ConnectionResetError("connection reset mid-transfer")
            self._sent = True
            return payload[:n]

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    dest = tmp_path / "f.gz"
    with pytest.raises(ConnectionResetError):
        data.download_file("http://x/f.gz", dest, "0" * 32, opener=lambda u, timeout: Response())
    assert list(tmp_path.iterdir()) == []
